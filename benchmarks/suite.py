"""The whole benchmark suite in one command: a Markdown table and a PNG chart.

    .venv/bin/python benchmarks/suite.py [--contracts N] [--duration S] [--connections C]

At N contracts (1,000,000 by default; the database is seeded when it holds another number),
with wrk on 127.0.0.1, C connections (32), S seconds per row (15), 2 uvicorn workers:

  (a) bare Starlette returning the nested page's bytes: the ceiling;
  (b) a naive Strawberry server resolving the same 100-row nested page with one query per
      row and relation (benchmarks/naive_app.py), what a user would write first;
  (c) cidadao-gql cold: response cache and field cache off, every request executed;
  (d) cidadao-gql warm: the caches on (Redis as L2 when BENCH_REDIS_URL or 127.0.0.1:6379
      answers), after one warming request;
  and the mixed workload (nested and flat pages, one agency's contracts, an agency node
  with its contracts, spending by month; agencies drawn from a Zipf-like list) on cold
  and on warm servers.

For cidadao-gql rows it also reads, from the servers' own /metrics (multiprocess mode), the
cache hit ratio and the PostgreSQL statement P90 of that row's traffic, and from /proc the
peak resident memory of each server instance (master and workers). Every distinct request
is asked once before its row's load and must answer without GraphQL errors; each row counts
HTTP errors and answers with GraphQL errors. Results go to benchmarks/results/suite.md and
suite.json (committed: benchmarks/readme.py puts the table in the README) and suite.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from harness import (
    ROOT,
    arguments,
    bare_server,
    check_answers,
    database_url,
    ensure_wrk,
    load,
    lua_script,
    port,
    seed,
    server_process,
)
from record import save

RESULTS = ROOT / "benchmarks" / "results"
NESTED = """query Nested { contracts(first: 100) { edges { node {
  id number object finalValue signedOn
  supplier { id name document } agency { id name cnpj uf } } } } }"""
FLAT = """query Flat { contracts(first: 100) { edges { node {
  id number object finalValue signedOn modality uf } } } }"""
BY_AGENCY = """query ByAgency($agency: ID!) { contracts(first: 20, filter: {agency: $agency}) {
  nodes { id number finalValue signedOn supplier { name document } } } }"""
AGENCY = """query Agency($id: ID!) { node(id: $id) { ... on Agency { name cnpj uf
  contracts(first: 10) { nodes { number finalValue supplier { name } } } } } }"""
AGENCIES = "query Agencies { agencies(first: 60) { nodes { id } } }"
SPENDING = """query Spending($agency: ID!) { spending(groupBy: MONTH, first: 12,
  filter: {agency: $agency}) { nodes { key total contractCount } } }"""


def mixed_bodies(agencies: list[str]) -> list[str]:
    """~300 request bodies; agency k appears about 1/k as often as the first (Zipf-like)."""
    rng = random.Random(7)
    weights = [1 / (k + 1) for k in range(len(agencies))]
    bodies = []
    for _ in range(300):
        agency = rng.choices(agencies, weights)[0]
        kind = rng.choices(["nested", "flat", "by_agency", "agency", "spending"],
                           [0.25, 0.25, 0.2, 0.2, 0.1])[0]  # fmt: skip
        query, variables = {
            "nested": (NESTED, {}), "flat": (FLAT, {}),
            "by_agency": (BY_AGENCY, {"agency": agency}), "agency": (AGENCY, {"id": agency}),
            "spending": (SPENDING, {"agency": agency}),
        }[kind]  # fmt: skip
        bodies.append(json.dumps({"query": query, "variables": variables}))
    return bodies


def run_wrk(base: str, bodies: list[str], duration: int, connections: int) -> dict[str, float]:
    """wrk's figures for `bodies` (one, or a random mix), each checked once first."""
    check_answers(base, bodies)
    return load(base, lua_script(bodies), duration, connections)


def samples(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("cidadao_ai_"):
            head, _, value = line.rpartition(" ")
            name, _, labels = head.partition("{")
            found[(name, frozenset(re.findall(r'(\w+)="([^"]*)"', labels)))] = float(value)
    return found


def traffic_figures(before: dict[Any, float], after: dict[Any, float]) -> dict[str, float | None]:
    """Cache hit ratio (of all lookups, every tier) and statement P90 between two scrapes."""

    def delta(name: str, **labels: str) -> float:
        total = 0.0
        for (metric, found), value in after.items():
            if metric == name and set(labels.items()) <= found:
                total += value - before.get((metric, found), 0.0)
        return total

    lookups = delta("cidadao_ai_cache_requests_total")
    hits = delta("cidadao_ai_cache_requests_total", result="hit")
    buckets = sorted(
        (float(dict(found)["le"]), value - before.get((metric, found), 0.0))
        for (metric, found), value in after.items()
        if metric == "cidadao_ai_db_query_duration_seconds_bucket" and dict(found)["le"] != "+Inf"
    )
    count = delta("cidadao_ai_db_query_duration_seconds_count")
    p90 = None
    if count:
        for bound, cumulative in _merge(buckets):
            if cumulative >= 0.9 * count:
                p90 = bound * 1000
                break
    return {"hit_ratio": hits / lookups if lookups else None, "db_p90_ms": p90}


def _merge(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: dict[float, float] = {}
    for bound, value in buckets:  # the primary and replica pools, summed per bound
        merged[bound] = merged.get(bound, 0.0) + value
    return sorted(merged.items())


def peak_memory(pid: int) -> int:
    """Peak resident bytes of a process and its children (VmHWM, summed)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            total += int(match.group(1)) * 1024 if match else 0
    return total


@contextmanager
def cidadao(env: dict[str, str], port: int, workers: int) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory() as samples_dir:
        env = {"DATABASE_URL": database_url(), "RATE_LIMIT_CAPACITY": "0", "LOG_LEVEL": "WARNING",
               "RUN_INVESTIGATIONS": "false", "PROMETHEUS_MULTIPROC_DIR": samples_dir, **env}  # fmt: skip
        app = ["cidadao_gql.web.app:create_app", "--factory", "--workers", str(workers)]
        with server_process(app, env, port) as (base, process):
            yield base, process.pid


def redis_url() -> str | None:
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    try:
        import redis

        redis.Redis.from_url(url).ping()
        return url
    except Exception:
        return None


def main() -> None:
    args = arguments(__doc__.splitlines()[0], duration=15)
    ensure_wrk()
    seed(args.contracts)
    d, c, w = args.duration, args.connections, args.workers
    rows: list[dict[str, Any]] = []

    cold = {"RESPONSE_CACHE_TTL": "0", "CACHE_STRATEGY": "none"}
    with cidadao(cold, port(1), w) as (base, pid):
        nested_answer = httpx.post(f"{base}/graphql", json={"query": NESTED}).content
        answer = httpx.post(f"{base}/graphql", json={"query": AGENCIES}).json()
        agencies = [n["id"] for n in answer["data"]["agencies"]["nodes"]]
        bodies = mixed_bodies(agencies)
        for label, load in (("(c) cidadao-gql cold, nested page", [json.dumps({"query": NESTED})]),
                            ("(e) cidadao-gql cold, mixed workload", bodies)):  # fmt: skip
            before = samples(base)
            result = run_wrk(base, load, d, c)
            rows.append({"row": label, **result, **traffic_figures(before, samples(base))})
        rows[-1]["memory"] = rows[-2]["memory"] = peak_memory(pid)

    redis = redis_url()
    warm = {"RESPONSE_CACHE_TTL": "60", "CACHE_STRATEGY": "multi_tier" if redis else "memory",
            **({"REDIS_URL": redis} if redis else {})}  # fmt: skip
    if redis:
        import redis as redis_client

        redis_client.Redis.from_url(redis).flushdb()
    with cidadao(warm, port(2), w) as (base, pid):
        for body in bodies:  # warm: every distinct request once
            httpx.post(
                f"{base}/graphql", content=body, headers={"content-type": "application/json"}
            )
        for label, load in (("(d) cidadao-gql warm, nested page", [json.dumps({"query": NESTED})]),
                            ("(f) cidadao-gql warm, mixed workload", bodies)):  # fmt: skip
            before = samples(base)
            result = run_wrk(base, load, d, c)
            rows.append({"row": label, **result, **traffic_figures(before, samples(base))})
        rows[-1]["memory"] = rows[-2]["memory"] = peak_memory(pid)

    naive = ["--app-dir", str(ROOT / "benchmarks"), "naive_app:app", "--workers", str(w)]
    with server_process(naive, {"DATABASE_URL": database_url()}, port(3)) as (base, process):
        result = run_wrk(base, [json.dumps({"query": NESTED})], d, c)
        rows.append({"row": "(b) naive Strawberry, nested page (a query per row)", **result,
                     "memory": peak_memory(process.pid)})  # fmt: skip
    with bare_server(nested_answer, port(4), w) as base:
        result = run_wrk(base, [json.dumps({"query": NESTED})], d, c)
        rows.append({"row": "(a) bare Starlette, the nested page's bytes", **result})

    rows.sort(key=lambda r: str(r["row"]))
    report(rows, args)


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    by = {str(r["row"])[:3]: r for r in rows}
    rps = {k: float(r["rps"]) for k, r in by.items()}
    lines = [
        f"{args.contracts:,} contracts; wrk, {args.connections} connections, {args.duration} s "
        f"per row after 3 s of warm-up; {args.workers} uvicorn workers per server.",
        "",
        "| row | req/s | P50 ms | P95 ms | P99 ms | HTTP errors | GraphQL errors "
        "| cache hit ratio | DB P90 ms | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hit = r.get("hit_ratio")
        p90 = r.get("db_p90_ms")
        memory = r.get("memory")
        lines.append(
            f"| {r['row']} | {float(r['rps']):,.0f} | {float(r['p50']):.1f} | "
            f"{float(r['p95']):.1f} | {float(r['p99']):.1f} | {int(r['errors'])} | "
            f"{int(r['graphql_errors'])} | "
            f"{'' if hit is None else f'{float(hit):.3f}'} | "
            f"{'' if p90 is None else f'≤ {float(p90):g}'} | "
            f"{'' if memory is None else f'{int(memory) / 2**20:,.0f} MiB'} |"
        )
    lines += [
        "",
        f"- (c)/(b), cold cidadao-gql over the naive server: **{rps['(c)'] / rps['(b)']:.2f}×**",
        f"- (d)/(a), warm cidadao-gql over the bare ceiling: **{rps['(d)'] / rps['(a)']:.2f}**",
    ]
    save("suite", "\n".join(lines), {"rows": rows, "options": vars(args)})
    chart(rows, RESULTS / "suite.png")
    print(f"written: {RESULTS / 'suite.png'}")


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["row"]).split(",")[0] + "\n" + str(r["row"]).split(", ")[1] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    left.barh(names, [float(r["rps"]) for r in rows], color="#2f6f9f")
    left.set_xscale("log")
    left.set_xlabel("requests per second (log scale)")
    left.invert_yaxis()
    for i, key in enumerate(("p50", "p95", "p99")):
        right.barh([y + (i - 1) * 0.27 for y in range(len(rows))],
                   [float(r[key]) for r in rows], height=0.27, label=key.upper())  # fmt: skip
    right.set_yticks(range(len(rows)), [""] * len(rows))
    right.set_xscale("log")
    right.set_xlabel("latency, ms (log scale)")
    right.axvline(200, color="grey", linestyle="--", linewidth=0.8)
    right.axvline(500, color="grey", linestyle=":", linewidth=0.8)
    right.invert_yaxis()
    right.legend()
    fig.suptitle("cidadao-gql benchmark suite")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
