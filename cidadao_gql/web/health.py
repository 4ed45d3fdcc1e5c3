"""What the service can do right now: checks of PostgreSQL, its migrations and Redis, for
the readiness probes and the gauges; and the worker's own small HTTP face.

Readiness says whether a process can do its job, not whether every dependency is up. The
API serves reads without Redis (the cache and the rate limiter fail open), so Redis trouble
makes it `degraded`, not unready: a probe that failed on Redis would take every replica out
of service during an outage the service itself survives. A worker takes jobs from Redis,
so for a worker Redis is required.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cidadao_gql import metrics
from cidadao_gql.data.db import Database, connection
from cidadao_gql.investigations import store
from cidadao_gql.migrations import pending_migrations

TIMEOUT = 2.0
# A probe's or a scrape's answer is now's: no cache in front (Varnish would keep an answer
# without Cache-Control for its default TTL) may answer the next one with it.
NO_STORE = {"cache-control": "no-store"}
EVERY = 5.0  # seconds between the gauges' own checks


async def check(db: Database, redis: aioredis.Redis | None) -> dict[str, bool]:
    """{dependency: answers as needed}; Redis only when there is one. Also sets the gauges."""
    checks = {"database": await _database_ok(db)}
    checks["migrations"] = checks["database"] and await _migrations_current(db)
    if redis is not None:
        checks["redis"] = await _redis_ok(redis)
    for dependency, ok in checks.items():
        metrics.DEPENDENCY_UP.labels(dependency).set(1 if ok else 0)
    return checks


def readiness(checks: dict[str, bool], required: Iterable[str]) -> Response:
    """200 `ok`; 200 `degraded` when only what is not required fails; else 503 `unavailable`."""
    if not all(checks.get(name, True) for name in required):
        status, code = "unavailable", 503
    else:
        status, code = ("ok" if all(checks.values()) else "degraded"), 200
    return JSONResponse({"status": status, "checks": checks}, status_code=code, headers=NO_STORE)


async def measure_queue(db: Database) -> None:
    pending, oldest = await store.queue_state(db)
    metrics.QUEUE_DEPTH.set(pending)
    metrics.QUEUE_OLDEST_AGE.set(oldest)


async def watch(db: Database, redis: aioredis.Redis | None, every: float = EVERY) -> None:
    """Every `every` seconds: the dependency gauges and the queue's, until cancelled."""
    while True:
        if (await check(db, redis))["database"]:
            try:
                async with asyncio.timeout(TIMEOUT):
                    await measure_queue(db)
            except Exception:  # the gauges keep their last values; the next round retries
                pass
        await asyncio.sleep(every)


def worker_app(db: Database, redis: aioredis.Redis, alive: Callable[[], bool]) -> Starlette:
    """`cidadao-gql worker`'s port: /health/live (the loop answers and the agent pool still
    runs), /health/ready (PostgreSQL, migrations and the job queue's Redis answer),
    /metrics; anything else is a 404."""

    async def live(_: Request) -> Response:
        ok = alive()
        status = 200 if ok else 503
        return JSONResponse({"status": "ok" if ok else "stopped"}, status, NO_STORE)

    async def ready(_: Request) -> Response:
        return readiness(await check(db, redis), ("database", "migrations", "redis"))

    async def exposition(_: Request) -> Response:
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type, headers=NO_STORE)

    return Starlette(
        routes=[
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/metrics", exposition, methods=["GET"]),
        ]
    )


async def _migrations_current(db: Database) -> bool:
    try:
        async with asyncio.timeout(TIMEOUT), connection(db.primary) as conn:
            return not await pending_migrations(conn)
    except Exception:  # as below: "not ready", never a 500
        return False


async def _database_ok(db: Database) -> bool:
    try:
        async with asyncio.timeout(TIMEOUT):
            return bool(await db.fetchval("SELECT 1"))
    except Exception:  # any failure to answer is "not healthy", never a 500
        return False


async def _redis_ok(redis: aioredis.Redis) -> bool:
    try:
        async with asyncio.timeout(TIMEOUT):
            return bool(await redis.ping())
    except Exception:  # as above
        return False
