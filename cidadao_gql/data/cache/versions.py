"""Versioned namespaces: how a write invalidates what is cached about it, on every instance.

A namespace's version lives in PostgreSQL (`cache_versions`) and is part of every cache
key, so bumping it turns every cached value of the namespace into a miss at once. Writers
bump it, then announce the new version on a Redis channel; each instance applies what it
hears and drops its L1 entries for the namespace. An instance also re-reads the versions
from PostgreSQL every few seconds (and after Redis comes back), so a message lost while
Redis was down delays an invalidation by that much, never forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cidadao_gql.data.db import Database

log = logging.getLogger("cidadao_gql.cache")
CHANNEL = "cidadao:cache:invalidate"


async def bump_version(conn: asyncpg.Connection | Database, namespace: str) -> int:
    version: int = await conn.fetchval(
        """INSERT INTO cache_versions (namespace, version) VALUES ($1, 2)
           ON CONFLICT (namespace) DO UPDATE SET version = cache_versions.version + 1
           RETURNING version""",
        namespace,
    )
    return version


async def announce(redis: aioredis.Redis | None, namespace: str, version: int) -> None:
    if redis is None:
        return
    try:
        await redis.publish(CHANNEL, orjson.dumps({"namespace": namespace, "version": version}))
    except (RedisError, OSError) as exc:
        log.warning(
            "cache: could not announce %s v%d (%s); instances poll for it", namespace, version, exc
        )


class Versions:
    """This instance's view of the namespace versions, kept current."""

    def __init__(
        self,
        db: Database,
        redis: aioredis.Redis | None,
        on_change: Callable[[str], object],
        poll_seconds: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.redis = redis
        self.on_change = on_change
        self.poll_seconds = poll_seconds
        self.sleep = sleep  # tests pass one that returns when they say
        self.current: dict[str, int] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        self.started = False  # past the first read: what changes now is a write heard

    def get(self, namespace: str) -> int:
        return self.current.get(namespace, 1)

    def apply(self, namespace: str, version: int) -> None:
        if version > self.current.get(namespace, 1):
            self.current[namespace] = version
            self.on_change(namespace)

    async def refresh(self) -> None:
        for row in await self.db.fetch_primary("SELECT namespace, version FROM cache_versions"):
            self.apply(row["namespace"], row["version"])

    async def bump(self, namespace: str) -> int:
        version = await bump_version(self.db, namespace)
        self.apply(namespace, version)
        await announce(self.redis, namespace, version)
        return version

    async def start(self) -> None:
        await self.refresh()
        self.started = True
        self.tasks.append(asyncio.create_task(self._poll()))
        if self.redis is not None:
            self.tasks.append(asyncio.create_task(self._listen(self.redis)))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        # A pub/sub connection cancelled mid-read can take its time to close; do not hang
        # a shutdown on it.
        await asyncio.wait(self.tasks, timeout=2.0)
        self.tasks.clear()

    async def _poll(self) -> None:
        while True:
            await self.sleep(self.poll_seconds)
            try:
                await self.refresh()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("cache: could not read versions (%s)", exc)

    async def _listen(self, redis: aioredis.Redis) -> None:
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    await self.refresh()  # what was announced while we were not listening
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message.get("type") == "message":
                            body = orjson.loads(message["data"])
                            self.apply(body["namespace"], int(body["version"]))
            except (RedisError, OSError, asyncpg.PostgresError) as exc:
                self.subscribed.clear()
                log.warning("cache: invalidation channel lost (%s); retrying", exc)
                await asyncio.sleep(1.0)
