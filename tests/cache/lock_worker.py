"""One of the processes racing for the same aggregate (run by test_distributed).

It takes commands from Redis (`{key}:go:{n}`) and answers on `{key}:out`:

- `get`: 100 concurrent reads of the key, then the set of values they saw. A process that
  gets to compute, or that waits for another's computation under the Redis lock, says
  `arrived` first; a computation then holds until the test pushes `{key}:release`, so the
  test releases it only once every process is inside the race.
- `expire`: move this process's clock past the policy's TTL.
- `refresh`: re-read the namespace versions from PostgreSQL (after the test bumped one).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

import asyncpg
import orjson
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import open_database
from cidadao_gql.data.loaders import SPENDING_CACHE
from cidadao_gql.settings import Settings

READERS = 100


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def cluster_waits() -> float:
    return REGISTRY.get_sample_value("cidadao_ai_cache_lock_waits_total", {"scope": "cluster"}) or 0


async def main(database_url: str, redis_url: str, key: str, index: str) -> None:
    settings = Settings(database_url=database_url, redis_url=redis_url)
    # It blocks on the test's commands: longer than redis-py's default 5 s socket timeout.
    redis = aioredis.Redis.from_url(redis_url, socket_timeout=300)
    policy = replace(SPENDING_CACHE, namespace=f"race-{key}")  # all three tiers, with the lock
    clock = Clock()
    arrived = asyncio.Event()

    async def expensive() -> int:
        arrived.set()
        conn = await asyncpg.connect(database_url)
        try:
            computed: int = await conn.fetchval(
                "UPDATE cache_race SET computations = computations + 1 WHERE key = $1"
                " RETURNING computations",
                key,
            )
        finally:
            await conn.close()
        await redis.blpop([f"{key}:release"], timeout=30)
        return computed

    async def watch_waits(before: float) -> None:
        # The cache counts a wait on another process's lock; a counter has nothing to await.
        while cluster_waits() == before:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        arrived.set()

    async def report_arrival() -> None:
        await arrived.wait()
        await redis.rpush(f"{key}:out", orjson.dumps({"index": index, "arrived": True}))

    async with open_database(settings) as db:
        cache = TieredCache(settings, db, redis, clock=clock)
        while True:
            _, command = await redis.blpop([f"{key}:go:{index}"])  # type: ignore[misc]  # redis-py types blpop as Awaitable | list
            if command == b"quit":
                break
            if command == b"expire":
                clock.now += policy.ttl + 1
            elif command == b"refresh":
                await cache.versions.refresh()
            elif command == b"get":
                arrived.clear()
                watchers = [
                    asyncio.create_task(watch_waits(cluster_waits())),
                    asyncio.create_task(report_arrival()),
                ]
                values = await asyncio.gather(
                    *(cache.get(policy, "hot", expensive) for _ in range(READERS))
                )
                for task in watchers:
                    task.cancel()
                await asyncio.wait(watchers)
                answer = {"index": index, "values": sorted(set(values))}
                await redis.rpush(f"{key}:out", orjson.dumps(answer))
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
