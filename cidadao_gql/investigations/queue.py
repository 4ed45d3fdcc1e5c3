"""Where investigation jobs wait: a Redis Stream with a consumer group, so any number of
workers on any machines share them and a worker that dies mid-job loses nothing (another
claims its job once it has sat unacknowledged for `claim_after` seconds); or, without
Redis, an in-process queue."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

STREAM = "cidadao:investigations:jobs"
GROUP = "workers"
EVENTS_KEPT = 1000
log = logging.getLogger("cidadao_gql.investigations")


def events_stream(investigation: uuid.UUID) -> str:
    return f"cidadao:investigation:{investigation}:events"


class Jobs(Protocol):
    async def submit(self, investigation: uuid.UUID) -> None: ...

    async def announce(self, investigation: uuid.UUID, event: str, **payload: Any) -> None: ...

    async def backlog(self) -> int:
        """Jobs waiting that no worker has taken yet."""
        ...

    async def next(self, wait: float) -> tuple[str, uuid.UUID] | None: ...

    async def ack(self, job: str) -> None: ...


class LocalJobs:
    def __init__(self, max_pending: int = 1000) -> None:
        self.queue: asyncio.Queue[uuid.UUID] = asyncio.Queue(max_pending)

    async def submit(self, investigation: uuid.UUID) -> None:
        self.queue.put_nowait(investigation)  # QueueFull pushes back on the caller

    async def announce(self, investigation: uuid.UUID, event: str, **payload: Any) -> None:
        return None  # without Redis, the events live in PostgreSQL only

    async def backlog(self) -> int:
        return self.queue.qsize()

    async def next(self, wait: float) -> tuple[str, uuid.UUID] | None:
        try:
            investigation = await asyncio.wait_for(self.queue.get(), wait)
        except TimeoutError:
            return None
        return str(investigation), investigation

    async def ack(self, job: str) -> None:
        return None


class StreamJobs:
    def __init__(
        self,
        redis: aioredis.Redis,
        consumer: str,
        claim_after: float = 30.0,
        max_pending: int = 1000,
    ) -> None:
        self.redis = redis
        self.consumer = consumer
        self.claim_after = claim_after
        self.max_pending = max_pending

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def submit(self, investigation: uuid.UUID) -> None:
        if await self.backlog() >= self.max_pending:
            raise asyncio.QueueFull  # pushed back to the caller, as the local queue does
        await self.redis.xadd(STREAM, {"investigation": str(investigation)})

    async def announce(self, investigation: uuid.UUID, event: str, **payload: Any) -> None:
        """Append to the investigation's event stream, which subscriptions read. Losing an
        event to a Redis failure loses nothing durable: PostgreSQL has it too."""
        try:
            await self.redis.xadd(
                events_stream(investigation),
                {"kind": event, "payload": orjson.dumps(payload, default=str)},
                maxlen=EVENTS_KEPT,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            log.warning("events: could not append %s for %s (%s)", event, investigation, exc)

    async def next(self, wait: float) -> tuple[str, uuid.UUID] | None:
        # First a job another worker took and never acknowledged (it died), then a new one.
        # Redis 7 answers [cursor, claimed, deleted]; 6.2 only [cursor, claimed].
        claimed = (
            await self.redis.xautoclaim(
                STREAM, GROUP, self.consumer, min_idle_time=int(self.claim_after * 1000), count=1
            )
        )[1]
        if claimed:
            job, fields = claimed[0]
        else:
            read: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, {STREAM: ">"}, count=1, block=max(1, int(wait * 1000))
            )
            if not read:
                return None
            job, fields = read[0][1][0]  # [[stream, [(id, fields)]]]
        return _text(job), uuid.UUID(
            _text(
                fields[b"investigation"] if b"investigation" in fields else fields["investigation"]
            )
        )

    async def ack(self, job: str) -> None:
        await self.redis.xack(STREAM, GROUP, job)

    async def backlog(self) -> int:
        for group in await self.redis.xinfo_groups(STREAM):
            if _text(group["name"]) == GROUP:
                return int(group.get("lag") or 0)  # Redis 7 reports it; 6.2 does not
        return 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
