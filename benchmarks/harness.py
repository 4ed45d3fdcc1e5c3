"""What the benchmarks share: seeding, uvicorn servers in subprocesses, wrk, and the bare
Starlette endpoint that every figure is a ratio to."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

from cidadao_gql.data.db import RoundTrips, init_connection
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.migrations import migrate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://root@127.0.0.1/cgql_bench"

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
        tables = ", ".join((*loading.LOAD_ORDER, "planted_anomalies"))
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        started = time.perf_counter()
        dataset = synthetic.generate(synthetic.Scale.for_contracts(contracts), 1, {})
        await loading.load_dataset(conn, dataset, lambda _: None)
        return time.perf_counter() - started
    finally:
        await conn.close()


@contextmanager
def answering(process: subprocess.Popen[bytes], base: str, seconds: float = 30) -> Iterator[str]:
    """`base` once the server `process` answers a GraphQL POST; the process is stopped
    on the way out."""
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def server_process(
    args: list[str], env: dict[str, str], port: int
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn with `args` in a subprocess, once it answers; its base URL and process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        env={**os.environ, **env}, cwd=ROOT,
    )  # fmt: skip
    with answering(process, f"http://127.0.0.1:{port}") as base:
        yield base, process


def arguments(description: str, duration: int, **extra: int) -> argparse.Namespace:
    """The options every load benchmark takes (and `extra` ones, with their defaults)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=duration)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    for name, default in extra.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    return parser.parse_args()


@contextmanager
def server(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    with server_process(args, env, port) as (base, _):
        yield base


def wrk(
    base: str, query: str, duration: int, connections: int, script_text: str | None = None
) -> dict[str, float]:
    """wrk against /graphql with one query (or a script of its own); its figures as a dict."""
    body = json.dumps({"query": query})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text or WRK_SCRIPT % {"method": "POST", "body": body})
    httpx.post(f"{base}/graphql", content=body, headers={"content-type": "application/json"})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", script.name, f"{base}/graphql"],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


@contextmanager
def bare_server(body: bytes, port: int, workers: int) -> Iterator[str]:
    """A bare Starlette endpoint answering `body` to every POST /graphql: the ceiling."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        (Path(tmp) / "body.json").write_bytes(body)
        args = ["--app-dir", tmp, "bare_app:app", "--workers", str(workers)]
        with server(args, {"BARE_BODY": str(Path(tmp) / "body.json")}, port) as base:
            yield base


def ensure_wrk() -> None:
    import shutil

    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)


def seed(contracts: int) -> None:
    seeded = asyncio.run(ensure_data(database_url(), contracts))
    if seeded is not None:
        print(f"seeded {contracts:,} contracts in {seeded:.1f} s")
