"""The compiled executor against the ordinary path and PostGraphile v4, in one run.

    .venv/bin/python benchmarks/compiled.py [--contracts N] [--duration S] [--rounds R]

On the same database (N contracts, 1,000,000 by default), with the response cache off (every
request executes), each executor with the field cache off and on (L1 rows, as deployed
without Redis), wrk on 127.0.0.1 with 32 connections for S seconds (10) per row and
round (3 rounds, each after 3 s of warm-up), two processes per server: cidadao-gql with two
uvicorn workers on each executor, and
PostGraphile v4 (`postgraphile@4` from the npm registry, installed on first use into
benchmarks/.peers/postgraphile, ignored by git) with `--cluster-workers 2`. Each serves
the 100-row nested page (contracts with their supplier and agency) and the 100-row flat
page, newest signature first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from harness import (
    ROOT,
    answering,
    arguments,
    check_answers,
    database_url,
    ensure_wrk,
    median,
    port,
    seed,
    server,
)
from record import save
from suite import run_wrk

NESTED = """query Nested { contracts(first: 100) { edges { node {
  id number object finalValue signedOn
  supplier { id name document } agency { id name cnpj uf } } } } }"""
FLAT = """query Flat { contracts(first: 100) { edges { node {
  id number object finalValue signedOn modality uf } } } }"""
PG_NESTED = """query Nested { allContracts(first: 100, orderBy: SIGNED_ON_DESC) { edges { node {
  id number object finalValue signedOn
  supplierBySupplierId { id name document } agencyByAgencyId { id name cnpj uf } } } } }"""
PG_FLAT = """query Flat { allContracts(first: 100, orderBy: SIGNED_ON_DESC) { edges { node {
  id number object finalValue signedOn modality uf } } } }"""
POSTGRAPHILE = ROOT / "benchmarks" / ".peers" / "postgraphile"


def body(query: str) -> str:
    return json.dumps({"query": query})


@contextmanager
def postgraphile(port: int, workers: int) -> Iterator[str]:
    binary = POSTGRAPHILE / "node_modules" / ".bin" / "postgraphile"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to install postgraphile@4")
        POSTGRAPHILE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(POSTGRAPHILE), "--no-audit", "--no-fund",
                        "--loglevel=error", "postgraphile@4"], check=True)  # fmt: skip
    process = subprocess.Popen(
        [str(binary), "-c", database_url(), "--schema", "public", "--host", "127.0.0.1",
         "--port", str(port), "--disable-graphiql", "--disable-query-log",
         "--cluster-workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with answering(process, f"http://127.0.0.1:{port}", seconds=60) as base:
        yield base


SERVERS = (  # name, executor, field cache (CACHE_STRATEGY)
    ("ordinary", "ordinary", "none"),
    ("compiled", "compiled", "none"),
    ("ordinary + field cache", "ordinary", "memory"),
    ("compiled + field cache", "compiled", "memory"),
)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], duration=10, rounds=3)
    ensure_wrk()
    seed(args.contracts)
    d, c, w = args.duration, args.connections, args.workers
    base_env = {"DATABASE_URL": database_url(), "RATE_LIMIT_CAPACITY": "0",
                "LOG_LEVEL": "WARNING", "RESPONSE_CACHE_TTL": "0", "RUN_INVESTIGATIONS": "false"}  # fmt: skip
    app = ["cidadao_gql.web.app:create_app", "--factory", "--workers", str(w)]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    # Every server up at once, loaded one at a time, in rounds: this machine's speed drifts
    # by up to 2x over minutes, and rounds spread the drift over every server.
    with ExitStack() as stack:
        bases = {
            name: stack.enter_context(server(
                app, {**base_env, "EXECUTOR": executor, "CACHE_STRATEGY": cache}, port(11 + i)
            ))
            for i, (name, executor, cache) in enumerate(SERVERS)
        }  # fmt: skip
        bases["postgraphile"] = stack.enter_context(postgraphile(port(19), w))
        queries = {name: {"nested": NESTED, "flat": FLAT} for name in bases}
        queries["postgraphile"] = {"nested": PG_NESTED, "flat": PG_FLAT}
        for name, base in bases.items():  # every answer checked before any load
            check_answers(base, [body(query) for query in queries[name].values()])
        for _ in range(args.rounds):
            for page in ("nested", "flat"):
                for name, base in bases.items():
                    result = run_wrk(base, [body(queries[name][page])], d, c)
                    runs.setdefault((name, page), []).append(result)
    results = {key: median(found) for key, found in runs.items()}

    lines = [
        f"{args.contracts:,} contracts; response cache off; wrk, {c} connections; {args.rounds} "
        f"rounds of {d} s per row, the median round shown; {w} processes per server.",
        "",
        "| server | page | req/s (median) | req/s (all rounds) | P50 ms | P95 ms | P99 ms "
        "| HTTP errors | GraphQL errors |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    order = [name for name, _, _ in SERVERS] + ["postgraphile"]
    for page in ("nested", "flat"):
        for name in order:
            r = results[(name, page)]
            every = ", ".join(f"{x['rps']:.0f}" for x in runs[(name, page)])
            lines.append(f"| {name} | {page} | {r['rps']:,.0f} | {every} | {r['p50']:.1f} | "
                         f"{r['p95']:.1f} | {r['p99']:.1f} | {int(r['errors'])} | "
                         f"{int(r['graphql_errors'])} |")  # fmt: skip
    lines.append("")
    graphile = {page: results[("postgraphile", page)]["rps"] for page in ("nested", "flat")}
    for page in ("nested", "flat"):
        for cache in ("", " + field cache"):
            rate = results[(f"compiled{cache}", page)]["rps"]
            lines.append(
                f"- {page}, compiled{cache}: **{rate / graphile[page]:.2f}×** PostGraphile, "
                f"**{rate / results[(f'ordinary{cache}', page)]['rps']:.2f}×** the ordinary path"
                f"{cache}"
            )
    figures = {f"{name} / {page}": found for (name, page), found in runs.items()}
    save("compiled", "\n".join(lines), {"rounds": figures, "options": vars(args)})


if __name__ == "__main__":
    main()
