"""Where investigation jobs wait: a Redis Stream with a consumer group, so any number of
workers on any machines share them and a worker that dies mid-job loses nothing (another
claims its job once it has sat unacknowledged for `claim_after` seconds); or, without
Redis, an in-process queue.

The queue only carries jobs; PostgreSQL says what is unfinished. A Redis that lost the
stream (a restart, FLUSHALL, eviction) gets it and its group back on the next call that
finds them missing, and the agent pool's sweep (pool.py) re-enqueues from PostgreSQL
whatever nothing carries any more. A job is deleted from the stream once acknowledged, so
the stream holds exactly what it carries.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

STREAM = "cidadao:investigations:jobs"
GROUP = "workers"
SWEEP_LOCK = "cidadao:investigations:sweep"
EVENTS_KEPT = 1000
log = logging.getLogger("cidadao_gql.investigations")
T = TypeVar("T")


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
    max_pending: int
    recreated: asyncio.Event
    """Set when the queue found itself emptied and started again: time to sweep."""

    async def submit(self, investigation: uuid.UUID) -> None:
        """Queue a new investigation; QueueFull when `max_pending` wait already. A queue out
        of reach leaves it pending in PostgreSQL, for the sweep."""
        ...

    async def requeue(self, investigations: Collection[uuid.UUID]) -> None:
        """Queue these again, without the backlog check (the sweep counted the room)."""
        ...

    async def carried(self) -> set[uuid.UUID]:
        """The investigations the queue will deliver (again): those waiting and, where it
        redelivers them, those taken and not acknowledged."""
        ...

    async def lead(self, seconds: float) -> bool:
        """Whether this process should sweep now (one process in `seconds`, with Redis)."""
        ...

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
    """Jobs and events of one process: the agent pool in the same process runs them."""

    def __init__(self, max_pending: int = 1000, investigations_kept: int = 1000) -> None:
        self.max_pending = max_pending
        self.queue: asyncio.Queue[uuid.UUID] = asyncio.Queue(max_pending)
        self.waiting: set[uuid.UUID] = set()
        self.recreated = asyncio.Event()  # an in-process queue is never emptied under us
        self.log: OrderedDict[uuid.UUID, list[Event]] = OrderedDict()
        self.kept = investigations_kept
        self.appended = asyncio.Condition()

    async def submit(self, investigation: uuid.UUID) -> None:
        self.queue.put_nowait(investigation)  # QueueFull pushes back on the caller
        self.waiting.add(investigation)

    async def requeue(self, investigations: Collection[uuid.UUID]) -> None:
        for investigation in investigations:
            await self.submit(investigation)

    async def carried(self) -> set[uuid.UUID]:
        # Not what a worker holds: nothing redelivers it if that worker dies, but its lease
        # lapses then, and the sweep queues it again.
        return set(self.waiting)

    async def lead(self, seconds: float) -> bool:
        return True

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
        self.waiting.discard(investigation)
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
        self.recreated = asyncio.Event()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _recreating(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, and once more after creating the stream and its group again when Redis
        no longer has them; without this every call would fail until a restart."""
        try:
            return await call()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                raise
            log.warning("queue: Redis lost the job stream (%s); creating it again", exc)
        await self.ensure_group()
        self.recreated.set()
        return await call()

    async def submit(self, investigation: uuid.UUID) -> None:
        try:
            full = await self.backlog() >= self.max_pending
            if not full:
                await self.redis.xadd(STREAM, {"investigation": str(investigation)})
        except (RedisError, OSError) as exc:
            log.warning("queue: %s stays pending for the sweep (%s)", investigation, exc)
            return
        if full:
            raise asyncio.QueueFull  # pushed back to the caller, as the local queue does

    async def requeue(self, investigations: Collection[uuid.UUID]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for investigation in investigations:
                pipe.xadd(STREAM, {"investigation": str(investigation)})
            await pipe.execute()

    async def carried(self) -> set[uuid.UUID]:
        # Acknowledged jobs are deleted, so the stream is what is waiting or in hand.
        entries: Any = await self.redis.xrange(STREAM)
        return {_investigation(fields) for _, fields in entries}

    async def lead(self, seconds: float) -> bool:
        took = await self.redis.set(
            SWEEP_LOCK, self.consumer, nx=True, px=max(1, int(seconds * 1000))
        )
        return bool(took)

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
            await self._recreating(
                lambda: self.redis.xautoclaim(
                    STREAM, GROUP, self.consumer, int(self.claim_after * 1000), count=1
                )
            )
        )[1]
        if claimed:
            job, fields = claimed[0]
        else:
            read: Any = await self._recreating(
                lambda: self.redis.xreadgroup(
                    GROUP, self.consumer, {STREAM: ">"}, count=1, block=max(1, int(wait * 1000))
                )
            )
            if not read:
                return None
            job, fields = read[0][1][0]  # [[stream, [(id, fields)]]]
        return _text(job), _investigation(fields)

    async def ack(self, job: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(STREAM, GROUP, job)
            pipe.xdel(STREAM, job)
            await pipe.execute()

    async def backlog(self) -> int:
        groups: Any = await self._recreating(lambda: self.redis.xinfo_groups(STREAM))
        for group in groups:
            if _text(group["name"]) == GROUP:
                return int(group.get("lag") or 0)  # Redis 7 reports it; 6.2 does not
        return 0


def _investigation(fields: dict[Any, Any]) -> uuid.UUID:
    return uuid.UUID(
        _text(fields[b"investigation"] if b"investigation" in fields else fields["investigation"])
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
