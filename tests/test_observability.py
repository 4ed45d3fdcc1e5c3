"""What operators see: metrics after real requests (one worker and several), the request id
in logs and errors, readiness against a database that went away, overload answered with
fast 503s, and traces of operations and their SQL."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from cidadao_gql.data import apikeys
from cidadao_gql.observability import REQUEST_ID, logging_config
from cidadao_gql.settings import PoolSize, Settings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.middleware import Gate, InFlight
from tests.conftest import ROOT, DatabaseFactory, connect, free_port, live_server

NAMED = "query TopAgencies { agencies(first: 3) { nodes { name } } }"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus' text format, or None."""
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_have_their_names_and_labels_after_requests(settings: Settings) -> None:
    name = f"Top{uuid.uuid4().hex[:8]}"  # metrics are per process: a name of this test's own
    query = NAMED.replace("TopAgencies", name)
    async with live_server(create_app(settings)) as client:
        before = (await client.get("/metrics")).text
        await client.post("/graphql", json={"query": query, "operationName": name})
        await client.post("/graphql", json={"query": query, "operationName": name})
        await client.post("/graphql", json={"query": "{ nope }"})
        url = str(client.base_url).replace("http", "ws") + "/graphql"
        async with ws_connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send('{"type": "connection_init"}')
            await ws.recv()
        text = (await client.get("/metrics")).text

    def grew(metric: str, **labels: str) -> float:
        return (sample(text, metric, **labels) or 0) - (sample(before, metric, **labels) or 0)

    duration = "cidadao_ai_request_duration_seconds_count"
    assert sample(text, duration, operation=name, path="executed") == 1
    assert sample(text, duration, operation=name, path="cache") == 1
    assert grew(duration, operation="anonymous", path="executed") == 1
    assert grew("cidadao_ai_db_query_duration_seconds_count", pool="primary") > 0
    assert 0 < (sample(text, "cidadao_ai_cache_hit_ratio", tier="response") or 0) < 1
    assert grew("cidadao_ai_cache_requests_total", tier="response", result="hit",
                namespace="response") == 1  # fmt: skip
    assert grew("cidadao_ai_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert grew("cidadao_ai_query_cost_total") > 0
    assert (sample(text, "cidadao_ai_db_pool_connections", pool="primary", state="open") or 0) > 0
    assert (sample(text, "cidadao_ai_websocket_message_rate", direction="in") or 0) > 0
    assert grew("cidadao_ai_websocket_messages_total", direction="out") >= 1


async def test_agent_pool_utilization_follows_the_jobs_in_hand(settings: Settings) -> None:
    """Two workers (the pool's minimum): none busy, then one held by a job stuck on a locked
    table (0.5), then none again once the job is let finish."""
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = (
            await apikeys.create_key(conn, f"pool-{uuid.uuid4()}", frozenset({"investigate"}))
        ).key
        # The database is the session's: jobs other tests left unfinished would be
        # recovered by this pool and take its workers, so the count below would not be ours.
        await conn.execute(
            "UPDATE investigations SET status = 'cancelled' WHERE status IN ('pending', 'running')"
        )
    pool = replace(settings, agent_pool_size=PoolSize(2, 2))
    start = (
        """mutation { startInvestigation(target: {}, agents: ["sanctioned_supplier"]) { id } }"""
    )

    async with live_server(create_app(pool)) as client:

        async def utilization() -> float:
            text = (await client.get("/metrics")).text
            return sample(text, "cidadao_ai_agent_pool_utilization") or 0.0

        async def until(wanted: float) -> None:
            for _ in range(1500):  # a condition, polled; only a broken pool runs out of tries
                if await utilization() == wanted:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError(f"utilization never reached {wanted}")

        await until(0.0)
        async with connect(settings.database_url) as blocker:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
                answer = await client.post(
                    "/graphql", json={"query": start}, headers={"authorization": f"Bearer {key}"}
                )
                assert answer.json()["data"], answer.text
                await until(0.5)
            await until(0.0)  # the lock is gone, the job finished
        status = await status_of(settings, answer.json()["data"]["startInvestigation"]["id"])
    assert status == "completed"


async def status_of(settings: Settings, investigation: str) -> str:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        status: str = await conn.fetchval(
            "SELECT status FROM investigations WHERE id = $1", uuid.UUID(investigation)
        )
        return status


@contextmanager
def served(settings: Settings, workers: int, **env: str) -> Iterator[tuple[str, io.StringIO]]:
    """`cidadao-gql serve` in a subprocess; its base URL and (after it stops) its stderr."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": str(settings.database_url),
                   "PORT": str(port), "WORKERS": str(workers), "RUN_INVESTIGATIONS": "false",
                   "CIDADAO_DATA_DIR": str(ROOT / ".cache" / f"serve-{port}"), **env}  # fmt: skip
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "cidadao-gql"), "serve"],
        env=environment, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    stderr = io.StringIO()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not become ready")
        yield base, stderr
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
        stderr.write(err)


def test_several_workers_add_up_their_metrics(settings: Settings) -> None:
    with served(settings, workers=2, RESPONSE_CACHE_TTL="0") as (base, _):
        for _ in range(20):
            httpx.post(f"{base}/graphql", json={"query": NAMED, "operationName": "TopAgencies"})
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(4)]
    counts = {
        sample(t, "cidadao_ai_request_duration_seconds_count", operation="TopAgencies")
        for t in scrapes
    }
    assert counts == {20.0}  # whichever worker answers the scrape, the sum over both


def test_logs_are_json_lines_with_the_request_id(settings: Settings) -> None:
    with served(settings, workers=1, LOG_FORMAT="json") as (base, stderr):
        answer = httpx.post(f"{base}/graphql", json={"query": "{ nope }"},
                            headers={"x-request-id": "trace-me-42"})  # fmt: skip
    assert answer.headers["x-request-id"] == "trace-me-42"
    assert answer.json()["errors"][0]["extensions"]["requestId"] == "trace-me-42"
    lines = [json.loads(line) for line in stderr.getvalue().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "trace-me-42"]
    assert mine, stderr.getvalue()[-2000:]
    assert {"time", "level", "logger", "message"} <= set(mine[0])


def test_the_worker_logs_json_lines_like_the_server(settings: Settings, redis_url: str) -> None:
    """`cidadao-gql worker` logs through the same configuration as `serve`: with
    LOG_FORMAT=json every line it writes on stderr, its greeting and its probes' server's
    included, is a JSON object."""
    environment = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "WORKER_METRICS_PORT": str(free_port()),  # its probes' uvicorn logs too
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "cidadao-gql"), "worker"],
        env=environment, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # the worker is up once it says so
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=60)
    lines = [line for line in (first + rest).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    greeting = [r for r in records if "waiting for jobs" in r["message"]]
    assert len(greeting) == 1, lines
    assert {"time", "level", "logger", "message", "request_id"} <= set(greeting[0])
    assert greeting[0]["level"] == "INFO"


def test_the_request_id_reaches_records_written_during_the_request() -> None:
    config = logging_config(Settings(log_format="json"))
    stream = io.StringIO()
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["default"]
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(config["filters"]["request_id"]["()"]())
    log = logging.getLogger("cidadao_gql.test")
    log.addHandler(handler)
    token = REQUEST_ID.set("abc-123")
    try:
        log.warning("something happened")
    finally:
        REQUEST_ID.reset(token)
        log.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["request_id"] == "abc-123" and record["message"] == "something happened"


async def test_readiness_follows_the_database_and_the_migrations(
    settings: Settings, make_database: DatabaseFactory, server_url: str
) -> None:
    url = await make_database()
    async with live_server(create_app(replace(settings, database_url=url))) as client:
        assert (await client.get("/health/ready")).status_code == 200
        async with connect(url) as conn:  # a deploy whose migration has not run yet
            await conn.execute("DELETE FROM schema_migrations WHERE version = 5")
        behind = await client.get("/health/ready")
        admin = await asyncpg.connect(server_url)
        try:  # the database goes away under the running server
            name = urlsplit(url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        down = await client.get("/health/ready")
        alive = await client.get("/health/live")
    assert behind.status_code == 503
    assert behind.json()["checks"] == {"database": True, "migrations": False}
    assert down.status_code == 503
    assert down.json()["checks"]["database"] is False
    assert alive.status_code == 200  # the process is fine: no reason to restart it


async def test_overload_is_answered_with_fast_503s_and_nothing_hangs() -> None:
    release = asyncio.Event()

    async def slow(_: Request) -> PlainTextResponse:
        await release.wait()
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/graphql", slow, methods=["POST"])],
                    middleware=[Middleware(Gate, flight=InFlight(2))])  # fmt: skip
    async with live_server(app) as client:
        requests = [asyncio.ensure_future(client.post("/graphql", timeout=10)) for _ in range(10)]
        for _ in range(200):  # the two admitted wait; the rest are refused at once
            if sum(r.done() for r in requests) >= 8:
                break
            await asyncio.sleep(0.05)
        refused = [r.result() for r in requests if r.done()]
        release.set()
        answers = await asyncio.gather(*requests)
    assert len(refused) == 8 and all(r.status_code == 503 for r in refused)
    assert refused[0].headers["retry-after"] == "1"
    assert orjson.loads(refused[0].content)["errors"][0]["extensions"]["code"] == (
        "SERVICE_OVERLOADED"
    )
    assert sorted(a.status_code for a in answers) == [200, 200] + [503] * 8


async def test_operations_and_their_sql_are_traced(settings: Settings, db: object) -> None:
    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]  # unannotated upstream
    instrumentor.instrument()
    try:
        traced = replace(settings, otel_endpoint="http://127.0.0.1:4318")
        async with live_server(create_app(traced)) as client:
            await client.post("/graphql", json={"query": NAMED, "operationName": "TopAgencies"})
    finally:
        instrumentor.uninstrument()
    names = [span.name for span in exporter.get_finished_spans()]
    assert any("TopAgencies" in n for n in names), names
    assert any(n.startswith("SELECT") for n in names), names
