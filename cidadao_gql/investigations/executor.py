"""The pooled executor: worker tasks that take investigation jobs and run them.

`workers` tasks (AGENT_POOL_SIZE's maximum) each run one investigation at a time, and each
investigation runs its agents `agent_concurrency` at a time. Closing drains: the workers
finish the job in hand (up to a timeout) and take no new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cidadao_gql.db import Database
from cidadao_gql.investigations import runner
from cidadao_gql.investigations.narrative import Narrator
from cidadao_gql.investigations.queue import Jobs

log = logging.getLogger("cidadao_gql.investigations")


class Executor:
    def __init__(
        self,
        db: Database,
        jobs: Jobs,
        workers: int,
        agent_concurrency: int,
        narrator: Narrator | None = None,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.narrator = narrator
        self.workers = workers
        self.agent_concurrency = agent_concurrency
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.busy = 0
        self.completed = 0

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._work(i)) for i in range(self.workers)]

    async def recover(self, statuses: tuple[str, ...] = ("pending", "running")) -> int:
        """Submit again what a previous run left unfinished: everything, with the in-process
        queue (a restart empties it); only what never started, with Redis Streams (a running
        job there is claimed back by a live worker, and a job run twice finishes once)."""
        rows = await self.db.fetch_primary(
            "SELECT id FROM investigations WHERE status = any($1::text[]) ORDER BY created_at",
            list(statuses),
        )
        for row in rows:
            await self.jobs.submit(row["id"])
        return len(rows)

    async def _work(self, number: int) -> None:
        while not self.stopping.is_set():
            try:
                job = await self.jobs.next(wait=0.5)
            except Exception:
                log.exception("worker %d: could not take a job; retrying", number)
                await asyncio.sleep(1.0)
                continue
            if job is None:
                continue
            key, investigation = job
            self.busy += 1
            try:
                status = await runner.run(
                    self.db,
                    investigation,
                    self.agent_concurrency,
                    write=self.narrator.write if self.narrator else None,
                    announce=self.jobs.announce,
                )
                log.info("investigation %s: %s", investigation, status)
                self.completed += 1
            finally:
                self.busy -= 1
            with contextlib.suppress(Exception):  # unacknowledged: it is redelivered
                await self.jobs.ack(key)

    @property
    def utilization(self) -> float:
        return self.busy / self.workers if self.workers else 0.0

    async def close(self, drain_seconds: float = 30.0) -> None:
        self.stopping.set()
        if not self.tasks:
            return
        _, pending = await asyncio.wait(self.tasks, timeout=drain_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
