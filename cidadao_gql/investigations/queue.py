"""Where investigation jobs wait: a Redis Stream with a consumer group, so any number of
workers on any machines share them and a worker that dies mid-job loses nothing (another
claims its job once it has sat unacknowledged for `claim_after` seconds); or, without
Redis, an in-process queue."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of an investigation's event stream. `id` orders them; reading after it
    resumes where a reader left off."""

    id: str
    kind: str  # created, started, progress, finding, finished
    payload: dict[str, Any]


class Jobs(Protocol):
    async def submit(self, investigation: uuid.UUID) -> None: ...

    async def announce(self, investigation: uuid.UUID, event: str, **payload: Any) -> None: ...

    async def events(
        self, investigation: uuid.UUID, after: str, count: int, wait: float
    ) -> list[Event]:
        """Up to `count` events after `after` ("0": from the start), waiting at most `wait`
        seconds for the first; [] when none came."""
        ...

    async def backlog(self) -> int:
        """Jobs waiting that no worker has taken yet."""
        ...

    async def next(self, wait: float) -> tuple[str, uuid.UUID] | None: ...

    async def ack(self, job: str) -> None: ...


class LocalJobs:
    """Jobs and events of one process: the executor in the same process runs them."""

    def __init__(self, max_pending: int = 1000, investigations_kept: int = 1000) -> None:
        self.queue: asyncio.Queue[uuid.UUID] = asyncio.Queue(max_pending)
        self.log: OrderedDict[uuid.UUID, list[Event]] = OrderedDict()
        self.kept = investigations_kept
        self.appended = asyncio.Condition()

    async def submit(self, investigation: uuid.UUID) -> None:
        self.queue.put_nowait(investigation)  # QueueFull pushes back on the caller

    async def announce(self, investigation: uuid.UUID, event: str, **payload: Any) -> None:
        events = self.log.setdefault(investigation, [])
        self.log.move_to_end(investigation)
        while len(self.log) > self.kept:
            self.log.popitem(last=False)
        if len(events) < EVENTS_KEPT:
            plain = orjson.loads(orjson.dumps(payload, default=str))  # as Redis would give it
            events.append(Event(str(len(events) + 1), event, plain))
        async with self.appended:
            self.appended.notify_all()

    async def events(
        self, investigation: uuid.UUID, after: str, count: int, wait: float
    ) -> list[Event]:
        start = int(after.partition("-")[0] or 0)
        found = self.log.get(investigation, [])[start : start + count]
        if found or wait <= 0:
            return found
        try:
            async with self.appended:
                await asyncio.wait_for(
                    self.appended.wait_for(lambda: len(self.log.get(investigation, ())) > start),
                    wait,
                )
        except TimeoutError:
            return []
        return self.log.get(investigation, [])[start : start + count]

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

    async def events(
        self, investigation: uuid.UUID, after: str, count: int, wait: float
    ) -> list[Event]:
        read: Any = await self.redis.xread(
            {events_stream(investigation): after}, count=count, block=max(1, int(wait * 1000))
        )
        if not read:
            return []
        return [
            Event(
                _text(entry),
                _text(fields.get(b"kind", fields.get("kind", b""))),
                orjson.loads(fields.get(b"payload", fields.get("payload", b"{}"))),
            )
            for entry, fields in read[0][1]
        ]

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
