"""Load 1,000,000 contracts, then time the 100-row nested page under load with wrk.

    .venv/bin/python benchmarks/nested_page.py [--contracts N] [--duration S] [--workers W]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://root@127.0.0.1/cgql_bench; the
database is created and seeded when it does not hold N contracts) and wrk
(`apt-get install wrk`). Everything runs on 127.0.0.1 and stops by itself.

Figures are ratios against a baseline measured in the same run: a bare Starlette endpoint
that returns the same bytes as the GraphQL answer, served by the same uvicorn setup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from cidadao_gql.db import RoundTrips, init_connection
from cidadao_gql.ingestion import synthetic
from cidadao_gql.migrations import migrate

ROOT = Path(__file__).resolve().parents[1]
NESTED = """query Nested { contracts(first: 100) { edges { node {
  id number object finalValue signedOn
  supplier { id name document } agency { id name cnpj uf } } } } }"""
FLAT = """query Flat { contracts(first: 100) { edges { node {
  id number object finalValue signedOn modality uf } } } }"""

WRK_SCRIPT = """
wrk.method = "%(method)s"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT {\\"rps\\": %%.1f, \\"p50\\": %%.2f, \\"p95\\": %%.2f, \\"p99\\": %%.2f, \\"errors\\": %%d, \\"requests\\": %%d}\\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors, summary.requests))
end
"""

BARE_APP = """
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(__import__("os").environ["BARE_BODY"]).read_bytes()

async def endpoint(request):
    await request.body()
    return Response(BODY, media_type="application/json")

app = Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])
"""


def database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def ensure_data(url: str, contracts: int) -> float | None:
    """Seed `contracts` contracts unless they are there; returns the seconds seeding took."""
    target = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(database(url, "postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target):
            await admin.execute(f'CREATE DATABASE "{target}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn, RoundTrips())
        await migrate(conn)
        if await conn.fetchval("SELECT count(*) FROM contracts") == contracts:
            return None
        tables = ", ".join((*synthetic.LOAD_ORDER, "planted_anomalies"))
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        started = time.perf_counter()
        dataset = synthetic.generate(synthetic.Scale.for_contracts(contracts), 1, {})
        await synthetic.load_dataset(conn, dataset, lambda _: None)
        return time.perf_counter() - started
    finally:
        await conn.close()


@contextmanager
def server(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        env={**os.environ, **env}, cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.post(f"{base}/graphql", json={"query": "{ viewer { id } }"}, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def wrk(base: str, query: str, duration: int, connections: int) -> dict[str, float]:
    body = json.dumps({"query": query})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"method": "POST", "body": body})
    httpx.post(f"{base}/graphql", content=body, headers={"content-type": "application/json"})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", script.name, f"{base}/graphql"],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    url = os.environ.get("BENCH_DATABASE_URL", "postgresql://root@127.0.0.1/cgql_bench")
    seeded = asyncio.run(ensure_data(url, args.contracts))
    if seeded is not None:
        print(f"seeded {args.contracts:,} contracts in {seeded:.1f} s")

    rows = []
    # The load comes from one address; a cost bucket would throttle it, so it is off here.
    env = {"DATABASE_URL": url, "DB_POOL_SIZE": "2:10", "RATE_LIMIT_CAPACITY": "0"}
    app = ["cidadao_gql.app:create_app", "--factory", "--workers", str(args.workers)]
    with server(app, env, 8701) as base:
        answers = {name: httpx.post(f"{base}/graphql", json={"query": q}).content for name, q in
                   (("nested", NESTED), ("flat", FLAT))}  # fmt: skip
        for name, query in (("nested", NESTED), ("flat", FLAT)):
            rows.append(
                (f"cidadao-gql, {name} page", wrk(base, query, args.duration, args.connections))
            )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        for name in ("nested", "flat"):
            (Path(tmp) / "body.json").write_bytes(answers[name])
            bare = ["--app-dir", tmp, "bare_app:app", "--workers", str(args.workers)]
            with server(bare, {"BARE_BODY": str(Path(tmp) / "body.json")}, 8702) as base:
                rows.append(
                    (
                        f"bare Starlette, same {name} bytes",
                        wrk(base, NESTED, args.duration, args.connections),
                    )
                )

    ceiling = {
        r[0].split(", same ")[1].split()[0]: r[1]["rps"] for r in rows if r[0].startswith("bare")
    }
    print(f"\n{args.contracts:,} contracts, {args.connections} connections, {args.duration} s each,"
          f" {args.workers} uvicorn workers; answer sizes: nested {len(answers['nested']):,} B,"
          f" flat {len(answers['flat']):,} B\n")  # fmt: skip
    print("| server | req/s | P50 ms | P95 ms | P99 ms | errors | ratio to bare |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        kind = "nested" if "nested" in name else "flat"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} |"
              f" {int(r['errors'])} | {r['rps'] / ceiling[kind]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
