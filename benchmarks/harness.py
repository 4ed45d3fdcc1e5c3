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
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from cidadao_gql.data.db import RoundTrips, init_connection
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.migrations import migrate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://root@127.0.0.1/cgql_bench"

# One script for every load: the bodies, picked by `pick` (or each made by `next_body`);
# every answer is looked at, so a row counts GraphQL errors (an answer with "errors", even
# in a 200) and answers that were not response-cache hits, besides wrk's own HTTP and
# socket errors.
LUA = r"""
local bodies = {%(bodies)s}
local headers = {%(headers)s}
%(pick)s
%(next_body)s
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
init = function(args)
  math.randomseed(os.time() * 1000 + id)
  graphql_errors, not_hits = 0, 0
end
request = function()
  return wrk.format("POST", "/graphql", headers, next_body())
end
response = function(status, answer_headers, body)
  if body and string.find(body, '"errors"', 1, true) then graphql_errors = graphql_errors + 1 end
  if answer_headers["x-cache"] ~= "hit" then not_hits = not_hits + 1 end
end
done = function(summary, latency, requests)
  local graphql, misses = 0, 0
  for _, thread in ipairs(threads) do
    graphql = graphql + thread:get("graphql_errors")
    misses = misses + thread:get("not_hits")
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT {\"rps\": %%.1f, \"p50\": %%.2f, \"p95\": %%.2f, \"p99\": %%.2f, \"errors\": %%d, "
    .. "\"graphql_errors\": %%d, \"not_hits\": %%d, \"requests\": %%d}\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors, graphql, misses,
    summary.requests))
end
"""
UNIFORM = "local function pick() return math.random(#bodies) end"
PICKED = "local function next_body() return bodies[pick()] end"


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def lua_script(
    bodies: list[str],
    headers: dict[str, str] | None = None,
    pick: str = UNIFORM,
    next_body: str = PICKED,
) -> str:
    """The load script: `bodies` drawn by `pick`, or whatever Lua `next_body` makes (a
    function of that name returning a request body, drawn anew for each request)."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    return LUA % {
        "bodies": ", ".join(lua_string(b) for b in bodies),
        "headers": ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in sent.items()),
        "pick": pick,
        "next_body": next_body,
    }


def load(
    base: str, script: str, duration: int, connections: int, warmup: int = 3
) -> dict[str, float]:
    """wrk's figures for a script of `lua_script`, after `warmup` seconds of the same load
    whose figures are dropped (connections, statement caches and plans warm up)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    command = ["wrk", "-t2", f"-c{connections}", "--timeout", "10s", "-s", file.name]
    if warmup:
        subprocess.run([*command, f"-d{warmup}s", f"{base}/graphql"], capture_output=True,
                       check=True, timeout=warmup + 60)  # fmt: skip
    run = subprocess.run(
        [*command, f"-d{duration}s", f"{base}/graphql"],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    )  # fmt: skip
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:  # wrk reports a broken script on stderr and exits 0
        raise SystemExit(f"wrk gave no figures:\n{run.stdout}\n{run.stderr}")
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def check_answers(
    base: str, bodies: list[str], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Each distinct body asked once before any load: an answer that is not a 200 without
    GraphQL errors stops the benchmark, so that no row measures error answers. The answers'
    `data`, by body."""
    answers: dict[str, Any] = {}
    for body in dict.fromkeys(bodies):
        answer = httpx.post(f"{base}/graphql", content=body, timeout=60,
                            headers={"content-type": "application/json", **(headers or {})})  # fmt: skip
        found = answer.json() if answer.status_code == 200 else None
        if not isinstance(found, dict) or found.get("errors") or found.get("data") is None:
            raise SystemExit(
                f"{base} answered {answer.status_code} with errors to {body[:200]}:\n"
                f"{answer.text[:2000]}"
            )
        answers[body] = found["data"]
    return answers


BARE_APP = """
import json
import os
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ["BARE_BODY"]).read_bytes()
HEADERS = json.loads(Path(os.environ["BARE_HEADERS"]).read_text()) if os.environ.get("BARE_HEADERS") else {}

async def endpoint(request):
    await request.body()
    if HEADERS:  # the very headers given, Content-Type and Content-Encoding among them
        return Response(BODY, headers=HEADERS)
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
            # A database seeded before the load vacuumed its tables (loading.load_dataset)
            # is vacuumed now, so that index-only scans skip the heap; once done, cheap.
            for name in loading.LOAD_ORDER:
                await conn.execute(f"VACUUM (ANALYZE) {name}")
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
    """uvicorn with `args` in a subprocess, with the HTTP protocol `serve` runs (one write
    per response), once it answers; its base URL and process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--http", "cidadao_gql.web.http_protocol:OneWrite"],
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


@contextmanager
def bare_server(
    body: bytes, port: int, workers: int, headers: dict[str, str] | None = None
) -> Iterator[str]:
    """A bare Starlette endpoint answering `body` to every POST /graphql: the ceiling. With
    `headers`, it sends those (Content-Length and uvicorn's Date and Server aside) instead
    of a bare Content-Type: the bytes and headers of an answer it stands beside."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        (Path(tmp) / "body.json").write_bytes(body)
        env = {"BARE_BODY": str(Path(tmp) / "body.json")}
        if headers:
            (Path(tmp) / "headers.json").write_text(json.dumps(headers))
            env["BARE_HEADERS"] = str(Path(tmp) / "headers.json")
        args = ["--app-dir", tmp, "bare_app:app", "--workers", str(workers)]
        with server(args, env, port) as base:
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


def port(offset: int) -> int:
    """A port for a benchmark's server: BENCH_PORT (8710) plus `offset`, so that two
    benchmarks, or a benchmark beside other servers, can be given ranges apart."""
    return int(os.environ.get("BENCH_PORT", "8710")) + offset


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The round of median throughput (its latencies and counts with it)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


class lifespan:
    """An ASGI app's lifespan, started and stopped around a block, for calling the app in
    process (`call`); its state."""

    def __init__(self, app: Any) -> None:
        self.app, self.state = app, dict[str, Any]()
        self.messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.started = asyncio.Event()

    async def __aenter__(self) -> dict[str, Any]:
        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.started.set()

        await self.messages.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self.task = asyncio.create_task(self.app(scope, self.messages.get, send))
        await self.started.wait()
        return self.state

    async def __aexit__(self, *_: object) -> None:
        await self.messages.put({"type": "lifespan.shutdown"})
        await self.task


async def call(app: Any, state: dict[str, Any], body: bytes) -> None:
    """One JSON POST /graphql through the app's whole ASGI stack, in process; it must
    answer 200."""
    sent: list[MutableMapping[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "headers": [(b"content-type", b"application/json"), (b"host", b"bench")],
             "server": ("127.0.0.1", 80), "state": dict(state)}  # fmt: skip
    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
