"""One of two processes racing for the same expensive key (run by test_distributed)."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import redis.asyncio as aioredis

from cidadao_gql.cache import L1, L2, Policy, TieredCache
from cidadao_gql.db import open_database
from cidadao_gql.settings import Settings

POLICY = Policy("lock-race", ttl=60, tiers=frozenset({L1, L2}), lock=True)


async def main(database_url: str, redis_url: str, key: str) -> None:
    settings = Settings(database_url=database_url, redis_url=redis_url)
    redis = aioredis.Redis.from_url(redis_url)
    async with open_database(settings) as db:
        cache = TieredCache(settings, db, redis)

        async def expensive() -> int:
            conn = await asyncpg.connect(database_url)
            try:
                computed: int = await conn.fetchval(
                    "UPDATE cache_probe SET computations = computations + 1 RETURNING computations"
                )
            finally:
                await conn.close()
            await asyncio.sleep(0.5)  # long enough for the other process to arrive meanwhile
            return computed

        await redis.blpop([f"{key}:go"], timeout=30)  # both start together
        values = await asyncio.gather(*(cache.get(POLICY, key, expensive) for _ in range(100)))
        print(sorted(set(values)))
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
