"""What the probes and the gauges say: the API stays ready (degraded) without Redis, the
worker answers its probes on real paths, and the queue's metrics follow PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
from prometheus_client import REGISTRY

from cidadao_gql.data.db import open_database
from cidadao_gql.investigations import runner, store
from cidadao_gql.investigations.pool import AgentPool
from cidadao_gql.investigations.queue import LocalJobs
from cidadao_gql.settings import Settings
from cidadao_gql.web import health
from cidadao_gql.web.app import create_app
from tests.conftest import (
    DatabaseFactory,
    connect,
    free_port,
    live_server,
    redis_server,
    wait_for_redis,
)

READ = "{ contracts(first: 3) { nodes { number supplier { name } } } }"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def exposed(text: str, line_start: str) -> float:
    """The value of the first /metrics line that starts with `line_start`."""
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return float(line.rsplit(" ", 1)[1])


async def test_without_redis_the_api_is_ready_but_degraded(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = create_app(replace(settings, redis_url=url))
    with redis_server(port, tmp_path) as own_redis:
        await wait_for_redis(url)
        async with live_server(app) as client:
            up = await client.get("/health/ready")
            own_redis.terminate()  # this test's own Redis, never the shared one
            own_redis.wait(timeout=10)
            down = await client.get("/health/ready")
            read = await client.post("/graphql", json={"query": READ})
            scraped = (await client.get("/metrics")).text
    assert up.status_code == 200 and up.json()["status"] == "ok"
    assert down.status_code == 200  # reads go on, so the pod stays in service
    assert down.json() == {
        "status": "degraded",
        "checks": {"database": True, "migrations": True, "redis": False},
    }
    assert read.status_code == 200 and read.json()["data"]["contracts"]["nodes"]
    assert exposed(scraped, 'cidadao_ai_dependency_up{dependency="redis"}') == 0
    assert exposed(scraped, 'cidadao_ai_dependency_up{dependency="database"}') == 1


@asynccontextmanager
async def worker_process(settings: Settings, redis_url: str, port: int) -> AsyncIterator[str]:
    """`cidadao-gql worker` with its probes on `port`; stopped with SIGTERM at the end."""
    assert settings.database_url
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url,
           "WORKER_METRICS_PORT": str(port), "AGENT_POOL_SIZE": "1:1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cidadao_gql.cli", "worker", env=env,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    await client.get(f"{base}/health/live")
                    break
                except httpx.TransportError:
                    assert process.returncode is None, "the worker exited"
                    await asyncio.sleep(0.05)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()


async def test_the_worker_answers_its_probes_on_real_paths(
    settings: Settings, tmp_path: Path
) -> None:
    redis_port, probe_port = free_port(), free_port()
    url = f"redis://127.0.0.1:{redis_port}/0"
    with redis_server(redis_port, tmp_path) as own_redis:
        await wait_for_redis(url)
        async with worker_process(settings, url, probe_port) as base, httpx.AsyncClient() as client:
            live = await client.get(f"{base}/health/live")
            ready = await client.get(f"{base}/health/ready")
            nowhere = await client.get(f"{base}/anything")
            scraped = (await client.get(f"{base}/metrics")).text
            own_redis.terminate()
            own_redis.wait(timeout=10)
            without_redis = await client.get(f"{base}/health/ready")
            still_live = await client.get(f"{base}/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert nowhere.status_code == 404
    for name in ("cidadao_ai_investigation_queue_depth", "cidadao_ai_agent_pool_size",
                 "cidadao_ai_investigation_jobs_started_total"):  # fmt: skip
        assert f"\n{name} " in scraped, name
    # A worker without Redis can take no job: unready, yet alive (no restart helps).
    assert without_redis.status_code == 503
    assert without_redis.json()["checks"]["redis"] is False
    assert still_live.status_code == 200


async def test_queue_metrics_follow_postgresql_and_the_jobs(
    settings: Settings, make_database: DatabaseFactory
) -> None:
    url = await make_database()
    async with open_database(replace(settings, database_url=url)) as db:
        await health.measure_queue(db)
        assert sample("cidadao_ai_investigation_queue_depth") == 0
        assert sample("cidadao_ai_investigation_oldest_pending_seconds") == 0
        target = store.target_from_json({})
        first = await store.create(db, "ana", target, ["amendment_ceiling"])
        second = await store.create(db, "ana", target, ["amendment_ceiling"])
        async with connect(url) as conn:  # they have waited ten and five minutes
            for row, minutes in ((first, 10), (second, 5)):
                await conn.execute(
                    "UPDATE investigations SET created_at = now() - make_interval(mins => $2)"
                    " WHERE id = $1",
                    row["id"],
                    minutes,
                )
        await health.measure_queue(db)
        assert sample("cidadao_ai_investigation_queue_depth") == 2
        assert 600 <= sample("cidadao_ai_investigation_oldest_pending_seconds") < 3600

        before = {name: sample(f"cidadao_ai_investigation_jobs_{name}_total")
                  for name in ("started", "retried", "failed", "recovered")}  # fmt: skip
        recovered = await AgentPool(db, LocalJobs(), 1, 1).sweep()
        assert await runner.run(db, first["id"]) == "completed"
        async with connect(url) as conn:  # as if its worker had died: it runs again
            await conn.execute("UPDATE investigations SET status = 'running',"
                               " heartbeat_at = now() - interval '1 hour' WHERE id = $1",
                               first["id"])  # fmt: skip
        assert await runner.run(db, first["id"]) == "completed"
        async with connect(url) as conn:  # and once more, past the attempts allowed
            await conn.execute(
                "UPDATE investigations SET status = 'running', attempts = $2,"
                " heartbeat_at = now() - interval '1 hour' WHERE id = $1",
                first["id"], runner.MAX_ATTEMPTS,
            )  # fmt: skip
        assert await runner.run(db, first["id"]) == "failed"
        after = {name: sample(f"cidadao_ai_investigation_jobs_{name}_total") for name in before}
        await health.measure_queue(db)
        assert sample("cidadao_ai_investigation_queue_depth") == 1
    assert recovered == 2
    assert {name: after[name] - before[name] for name in before} == {
        "started": 3, "retried": 2, "failed": 1, "recovered": 2,
    }  # fmt: skip
