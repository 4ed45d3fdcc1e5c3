"""The one place that opens and closes what the service holds: database pools, Redis, the
cache (and its invalidation listener).

Both the web app's lifespan and the command line use `open_resources`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.data.persisted import PersistedDocuments
from cidadao_gql.data.ratelimit import Clock, Limiter, LocalLimiter, RedisLimiter
from cidadao_gql.errors import ConfigError
from cidadao_gql.investigations.narrative import Narrator
from cidadao_gql.investigations.pool import AgentPool
from cidadao_gql.investigations.queue import Jobs, LocalJobs, StreamJobs
from cidadao_gql.migrations import pending_migrations
from cidadao_gql.settings import Settings

AGENT_CONCURRENCY = 4  # agents of one investigation running at once
log = logging.getLogger("cidadao_gql.resources")


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    db: Database
    redis: aioredis.Redis | None
    limiter: Limiter | None
    cache: TieredCache
    jobs: Jobs
    persisted: PersistedDocuments


def make_limiter(
    settings: Settings, redis: aioredis.Redis | None, clock: Clock | None = None
) -> Limiter | None:
    """Cost buckets in Redis when there is one, in this process otherwise; none at capacity 0.
    Without a `clock`, buckets in Redis read the server's time (instances may be skewed)."""
    if settings.rate_limit_capacity == 0:
        return None
    capacity, rate = settings.rate_limit_capacity, settings.rate_limit_restore_rate
    if redis:
        return RedisLimiter(redis, capacity, rate, clock)
    return LocalLimiter(capacity, rate, clock or time.monotonic)


@asynccontextmanager
async def open_resources(
    settings: Settings, limiter_clock: Clock | None = None
) -> AsyncIterator[Resources]:
    """Everything the service holds; `limiter_clock` is for tests that move time."""
    if settings.database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set (`cidadao-gql serve` starts an embedded PostgreSQL instead)"
        )
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings))
        async with db.primary.acquire() as conn:
            pending = await pending_migrations(conn)
        if pending:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
            raise ConfigError(
                f"the database is not migrated (pending: {names}); run `cidadao-gql db migrate`"
            )
        redis = None
        if settings.redis_url:
            # Timeouts in milliseconds: a Redis that is slow is as good as down.
            redis = connect_redis(settings.redis_url, timeout=0.2, connect_timeout=0.2)
            stack.push_async_callback(redis.aclose)
        cache = TieredCache(settings, db, redis)
        await cache.start()
        stack.push_async_callback(cache.close)
        jobs = await stack.enter_async_context(open_jobs(settings))
        if settings.run_investigations:
            narrator = Narrator(settings)
            stack.push_async_callback(narrator.close)
            agent_pool = make_agent_pool(settings, db, jobs, narrator)
            await agent_pool.start()  # which sweeps up what a previous run left unfinished
            stack.push_async_callback(agent_pool.close)
        persisted = PersistedDocuments(db, redis, settings.persisted_queries_only)
        limiter = make_limiter(settings, redis, limiter_clock)
        yield Resources(settings, db, redis, limiter, cache, jobs, persisted)


def make_agent_pool(
    settings: Settings, db: Database, jobs: Jobs, narrator: Narrator | None
) -> AgentPool:
    pool = settings.agent_pool_size
    return AgentPool(
        db, jobs, pool.maximum, AGENT_CONCURRENCY, narrator, minimum=pool.minimum,
        lease=settings.investigation_claim_after,
    )  # fmt: skip


def connect_redis(url: str, timeout: float, connect_timeout: float) -> aioredis.Redis:
    """A client that reconnects: a command that draws a pooled connection Redis has closed
    (it restarted) goes once more on a new connection after a jittered 10-100 ms, instead
    of failing the request that drew it. Timeouts are not retried: a slow Redis is down."""
    retry = Retry(ExponentialWithJitterBackoff(cap=0.1, base=0.01), 1, (RedisConnectionError,))
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=connect_timeout, retry=retry
    )


@asynccontextmanager
async def open_jobs(settings: Settings) -> AsyncIterator[Jobs]:
    """The investigation job queue: Redis Streams when there is Redis, in process otherwise.
    Its Redis client is its own (on QUEUE_REDIS_URL when set): workers block on reads
    longer than the cache's timeouts."""
    if not settings.jobs_url:
        yield LocalJobs()
        return
    redis = connect_redis(settings.jobs_url, timeout=10, connect_timeout=2)
    try:
        jobs = StreamJobs(
            redis, f"{socket.gethostname()}:{os.getpid()}", settings.investigation_claim_after
        )
        await jobs.ensure_group()
        await _warn_if_evicting(redis)
        yield jobs
    finally:
        await redis.aclose()


async def _warn_if_evicting(redis: aioredis.Redis) -> None:
    """A Redis that evicts keys under memory pressure may drop the job stream; the sweep
    recovers from that, late. Managed services may refuse CONFIG: then nothing is said."""
    try:
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy")
    except RedisError:
        return
    if policy not in (None, "noeviction", b"noeviction"):
        log.warning(
            "queue: its Redis evicts keys (maxmemory-policy %s), the job stream included; "
            "give it a Redis with noeviction (QUEUE_REDIS_URL)",
            policy,
        )
