"""An investigation's events, in batches for subscribers: at most `size` events, gathered for
at most `window` seconds after the first one arrives, so a burst of findings goes out as a
few messages rather than hundreds.

Reading is pull-based: the next batch is read only when the subscriber has taken the last
one, so a slow client reads further behind in the stream instead of piling up messages in
this process. When the stream says nothing for `idle` seconds, PostgreSQL is asked whether the
investigation has ended (its last event may have been lost with Redis); if so, a `finished`
event is made from the row, and the stream ends either way with `finished`.

Redis going away mid-subscription (a restart) is not the subscriber's problem either: the
stream is read again from the last event delivered, every `pause` seconds until Redis
answers, and from then on every kind PostgreSQL records too (all but `finding`) comes from
its `investigation_events`, which lost nothing: the ones the subscriber has not had yet,
known by count (both places record them in the same order), up to the real `finished`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

from redis.exceptions import RedisError

from cidadao_gql.data.db import Database
from cidadao_gql.investigations import store
from cidadao_gql.investigations.queue import EVENTS_KEPT, Event, Jobs

BATCH_SIZE = 50
BATCH_WINDOW = 0.1
IDLE = 5.0
PAUSE = 0.5
TERMINAL = frozenset({"completed", "failed", "cancelled"})
ONLY_STREAMED = frozenset({"finding"})  # every other kind is in investigation_events too
log = logging.getLogger("cidadao_gql.investigations")


async def batches(
    db: Database,
    jobs: Jobs,
    investigation: uuid.UUID,
    after: str = "0",
    size: int = BATCH_SIZE,
    window: float = BATCH_WINDOW,
    idle: float = IDLE,
    pause: float = PAUSE,
) -> AsyncIterator[list[Event]]:
    loop = asyncio.get_running_loop()
    # Recorded events delivered so far; unknown when resuming after an event of an earlier
    # subscription (then only the final one is taken from PostgreSQL).
    recorded: int | None = 0 if after == "0" else None
    lost = False  # Redis failed us once: recorded events come from PostgreSQL from now on
    while True:
        events = await _read(jobs, investigation, after, size, pause if lost else idle)
        if events is None:
            if not lost:
                log.warning("events: Redis lost for %s; following PostgreSQL", investigation)
            lost = True
            events = []
        elif not events and not lost:
            ended = await _ended(db, investigation)
            if ended is not None:
                yield [ended]
                return
            continue
        deadline = loop.time() + window
        while events and len(events) < size and (left := deadline - loop.time()) > 0:
            more = await _read(jobs, investigation, events[-1].id, size - len(events), left)
            if not more:
                lost = lost or more is None
                break
            events += more
        if events:
            after = events[-1].id
        if lost:
            missed = await _recorded(db, investigation, recorded, after)
            if any(e.kind == "finished" for e in missed):  # what the stream has before it
                while (more := await _read(jobs, investigation, after, size, 0)) and (
                    len(events) < EVENTS_KEPT
                ):
                    events += more
                    after = more[-1].id
            streamed = [e for e in events if e.kind in ONLY_STREAMED]
            recorded = None if recorded is None else recorded + len(missed)
            events = [e for e in missed if e.kind != "finished"] + streamed
            events += [e for e in missed if e.kind == "finished"]
            if not events:
                await asyncio.sleep(pause / 2)  # Redis gave only what PostgreSQL has
                continue
        elif recorded is not None:
            recorded += sum(e.kind not in ONLY_STREAMED for e in events)
        yield events
        if any(e.kind == "finished" for e in events):
            return


async def _read(
    jobs: Jobs, investigation: uuid.UUID, after: str, count: int, wait: float
) -> list[Event] | None:
    """The stream's next events, or None when Redis is away."""
    try:
        return await jobs.events(investigation, after, count, wait)
    except (RedisError, OSError) as exc:
        log.debug("events: cannot read the stream of %s (%s)", investigation, exc)
        await asyncio.sleep(wait if wait < PAUSE else PAUSE)  # not a busy loop while down
        return None


async def _recorded(
    db: Database, investigation: uuid.UUID, delivered: int | None, after: str
) -> list[Event]:
    """The events PostgreSQL recorded that the subscriber has not had (past the first
    `delivered`; only the final one when that is unknown), up to the first `finished`. They
    carry the id of the last stream event before them: resuming from one reads on there."""
    rows = await store.events_of(db, investigation)
    if delivered is None:
        rows = [r for r in rows if r["kind"] == "finished"][:1]
    events = []
    for row in rows[delivered or 0 :]:
        events.append(Event(after, row["kind"], dict(row["payload"])))
        if row["kind"] == "finished":
            break
    return events


async def _ended(db: Database, investigation: uuid.UUID) -> Event | None:
    row = await db.fetchrow_primary(
        "SELECT status, error FROM investigations WHERE id = $1", investigation
    )
    if row is None or row["status"] not in TERMINAL:
        return None
    payload = {"status": row["status"]} | ({"error": row["error"]} if row["error"] else {})
    return Event("end", "finished", payload)
