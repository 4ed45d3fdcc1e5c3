"""The agent pool: worker tasks that take investigation jobs and run them.

- Pre-warmed: `minimum` workers start with the pool, each after a health probe (a database
  round trip), so the first job does not pay for connections.
- Scaling: a supervisor looks at the backlog every `tick` seconds and adds workers, up to
  `maximum`, while jobs wait; a worker idle for `idle_after` seconds leaves while there
  are more than `minimum`.
- Health and recycling: a worker whose probe fails, that raised, or that has served
  `recycle_after` jobs is replaced by a fresh one.
- Push-back: the in-process queue is bounded (a full one refuses new investigations).
- Drain: closing stops taking jobs and lets the ones in hand finish, up to a timeout.
- Sweep: at start, every `lease` seconds and whenever the queue was emptied under it (and
  once more SETTLE_SECONDS after that, for what was stored just before), the pool queues
  again from PostgreSQL every unfinished investigation that nothing carries (pending, or
  running under a lapsed lease), oldest first, in batches, and never more than the queue
  has room for. Redis carries jobs; PostgreSQL says what is unfinished.
  The claim in PostgreSQL (store.start) makes a job delivered twice run once at a time.

Jobs go to whichever worker is free next (round-robin over the idle ones); each job runs
its agents scatter-gather (runner.py), a large target split into chunks (map-reduce).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from cidadao_gql import metrics
from cidadao_gql.data.db import Database
from cidadao_gql.investigations import runner, store
from cidadao_gql.investigations.narrative import Narrator
from cidadao_gql.investigations.queue import Jobs

log = logging.getLogger("cidadao_gql.investigations")
SWEEP_BATCH = 100
# A new investigation is stored, then queued: one pending for less than this is not lost.
SETTLE_SECONDS = 2.0


class AgentPool:
    def __init__(
        self,
        db: Database,
        jobs: Jobs,
        workers: int,
        agent_concurrency: int,
        narrator: Narrator | None = None,
        minimum: int | None = None,
        idle_after: float = 30.0,
        recycle_after: int = 100,
        tick: float = 0.5,
        lease: float = 30.0,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.maximum = max(1, workers)
        self.minimum = min(self.maximum, self.maximum if minimum is None else minimum)
        self.agent_concurrency = agent_concurrency
        self.narrator = narrator
        self.idle_after = idle_after
        self.recycle_after = recycle_after
        self.tick = tick
        self.lease = lease
        self.stopping = asyncio.Event()
        self.workers: set[asyncio.Task[None]] = set()
        self.supervisor: asyncio.Task[None] | None = None
        self.sweeper: asyncio.Task[None] | None = None
        self.busy = 0
        # Read by tests/test_agent_pool.py to wait for jobs and recycling; the metrics above
        # show the pool's size and use, not these totals.
        self.completed = 0
        self.recycled = 0
        self.spawned = 0

    async def start(self) -> None:
        for _ in range(self.minimum):
            self._spawn()
        self.supervisor = asyncio.create_task(self._supervise())
        self.sweeper = asyncio.create_task(self._sweep_always())

    def _spawn(self) -> None:
        self.spawned += 1
        task = asyncio.create_task(self._work(self.spawned))
        self.workers.add(task)
        task.add_done_callback(self._gone)

    def _gone(self, task: asyncio.Task[None]) -> None:
        self.workers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker died: %r; a fresh one replaces it", task.exception())
            self.recycled += 1
        self._measure()

    def _measure(self) -> None:
        metrics.AGENT_POOL_SIZE.set(len(self.workers))
        metrics.AGENT_POOL_UTILIZATION.set(self.utilization)

    async def sweep(self, hold: float | None = None) -> int:
        """Queue again what PostgreSQL says is unfinished and the queue no longer carries
        (lost with an emptied Redis, left by a dead process, never queued); the number
        queued. Batches of SWEEP_BATCH, up to the room the queue has left. The round is
        this process's for `hold` seconds (the lease by default): until its next one."""
        if not await self.jobs.lead(hold or self.lease):
            return 0  # another process sweeps this round
        carried = await self.jobs.carried()
        room = self.jobs.max_pending - await self.jobs.backlog()
        queued = 0
        while room > 0:
            found = await store.unclaimed(
                self.db, self.lease, SETTLE_SECONDS, carried, min(SWEEP_BATCH, room)
            )
            if not found:
                break
            await self.jobs.requeue(found)
            carried.update(found)
            room -= len(found)
            queued += len(found)
        if queued:
            metrics.JOBS_RECOVERED.inc(queued)
            log.warning("agent pool: queued %d unfinished investigations again", queued)
        return queued

    async def _sweep_always(self) -> None:
        while not self.stopping.is_set():
            # Right after the queue was emptied, a round leaves alone what was stored less
            # than SETTLE_SECONDS before (it may be on its way into the queue): the next
            # round comes once those have settled, not a whole lease later.
            pause = SETTLE_SECONDS + 0.5 if self.jobs.recreated.is_set() else self.lease
            self.jobs.recreated.clear()
            try:
                await self.sweep(hold=pause)
            except Exception as exc:  # Redis or PostgreSQL away: the next round tries again
                log.warning("agent pool: sweep failed (%s)", exc)
            with contextlib.suppress(TimeoutError):  # a round is due, or Redis was emptied
                await asyncio.wait_for(self.jobs.recreated.wait(), pause)

    async def _supervise(self) -> None:
        while not self.stopping.is_set():
            try:
                backlog = await self.jobs.backlog()
            except Exception as exc:  # the queue is unreachable: keep what we have
                log.warning("agent pool: cannot read the backlog (%s)", exc)
                backlog = 0
            idle = len(self.workers) - self.busy
            wanted = min(
                self.maximum, max(self.minimum, len(self.workers) + max(0, backlog - idle))
            )
            for _ in range(wanted - len(self.workers)):
                self._spawn()
            while len(self.workers) < self.minimum:  # replace the dead and the recycled
                self._spawn()
            self._measure()
            await asyncio.sleep(self.tick)

    async def _healthy(self) -> bool:
        try:
            return bool(await self.db.fetchval("SELECT 1"))
        except Exception as exc:
            log.warning("agent pool: health probe failed (%s)", exc)
            return False

    async def _work(self, number: int) -> None:
        if not await self._healthy():
            self.recycled += 1
            return  # the supervisor starts another once the database answers
        served, idle_since = 0, time.monotonic()
        while not self.stopping.is_set():
            try:
                job = await self.jobs.next(wait=min(0.5, self.tick))
            except Exception as exc:
                log.warning("worker %d: could not take a job (%s); retrying", number, exc)
                await asyncio.sleep(1.0)
                continue
            if job is None:
                if (
                    time.monotonic() - idle_since > self.idle_after
                    and len(self.workers) > self.minimum
                ):
                    return  # shrink: nobody needed us for a while
                continue
            key, investigation = job
            self.busy += 1
            self._measure()
            try:
                status = await runner.run(
                    self.db,
                    investigation,
                    self.agent_concurrency,
                    write=self.narrator.write if self.narrator else None,
                    announce=self.jobs.announce,
                    lease=self.lease,
                )
                log.info("worker %d: investigation %s %s", number, investigation, status)
                self.completed += 1
            finally:
                self.busy -= 1
                self._measure()
            try:
                await self.jobs.ack(key)
            except Exception as exc:  # unacknowledged: it is redelivered, and finishes once
                log.warning("worker %d: could not acknowledge %s (%s)", number, key, exc)
            served += 1
            idle_since = time.monotonic()
            if served >= self.recycle_after:
                self.recycled += 1
                return  # recycled: a fresh worker takes over

    @property
    def utilization(self) -> float:
        return self.busy / len(self.workers) if self.workers else 0.0

    async def close(self, drain_seconds: float = 30.0) -> None:
        self.stopping.set()
        for task in (self.supervisor, self.sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not self.workers:
            return
        _, pending = await asyncio.wait(set(self.workers), timeout=drain_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
