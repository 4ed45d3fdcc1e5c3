"""An investigation's events, in batches for subscribers: at most `size` events, gathered for
at most `window` seconds after the first one arrives, so a burst of findings goes out as a
few messages rather than hundreds.

Reading is pull-based: the next batch is read only when the subscriber has taken the last
one, so a slow client reads further behind in the stream instead of piling up messages in
this process. When the stream says nothing for `idle` seconds, PostgreSQL is asked whether the
investigation has ended (its last event may have been lost with Redis); if so, a `finished`
event is made from the row, and the stream ends either way with `finished`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from cidadao_gql.db import Database
from cidadao_gql.investigations.queue import Event, Jobs

BATCH_SIZE = 50
BATCH_WINDOW = 0.1
IDLE = 5.0
TERMINAL = frozenset({"completed", "failed", "cancelled"})


async def batches(
    db: Database,
    jobs: Jobs,
    investigation: uuid.UUID,
    after: str = "0",
    size: int = BATCH_SIZE,
    window: float = BATCH_WINDOW,
    idle: float = IDLE,
) -> AsyncIterator[list[Event]]:
    loop = asyncio.get_running_loop()
    while True:
        events = await jobs.events(investigation, after, size, idle)
        if not events:
            ended = await _ended(db, investigation)
            if ended is not None:
                yield [ended]
                return
            continue
        deadline = loop.time() + window
        while len(events) < size and (left := deadline - loop.time()) > 0:
            more = await jobs.events(investigation, events[-1].id, size - len(events), left)
            if not more:
                break
            events += more
        yield events
        if any(e.kind == "finished" for e in events):
            return
        after = events[-1].id


async def _ended(db: Database, investigation: uuid.UUID) -> Event | None:
    row = await db.fetchrow_primary(
        "SELECT status, error FROM investigations WHERE id = $1", investigation
    )
    if row is None or row["status"] not in TERMINAL:
        return None
    payload = {"status": row["status"]} | ({"error": row["error"]} if row["error"] else {})
    return Event("end", "finished", payload)
