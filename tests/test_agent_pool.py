"""The agent pool: scaling with the backlog, idle shrinkage, recycling, health, and
map-reduce over chunks giving the same findings as one pass."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace

from cidadao_gql.agents import AGENTS, Target
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.investigations import store
from cidadao_gql.investigations.pool import AgentPool
from cidadao_gql.investigations.queue import LocalJobs
from cidadao_gql.investigations.runner import chunks, reduce_findings
from cidadao_gql.settings import Settings
from tests.conftest import DatabaseFactory, connect


async def wait_until(predicate: Callable[[], bool], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_pool_grows_with_the_backlog_and_shrinks_when_idle(
    make_database: DatabaseFactory, settings: Settings
) -> None:
    # A database of its own: the pool's sweep queues every unfinished investigation it finds,
    # and one left by an earlier test in the shared database made completed 7, never 6.
    url = await make_database()
    async with open_database(replace(settings, database_url=url)) as db:
        await _grow_and_shrink(db, url)


async def _grow_and_shrink(db: Database, url: str) -> None:
    jobs = LocalJobs()
    pool = AgentPool(db, jobs, workers=4, agent_concurrency=2, minimum=1, idle_after=0.3, tick=0.05)
    await pool.start()
    await wait_until(lambda: len(pool.workers) == 1)
    ids = []
    async with connect(url) as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")  # jobs stay busy
        for _ in range(6):
            row = await store.create(db, "pool", Target(), ["sanctioned_supplier"])
            ids.append(row["id"])
            await jobs.submit(row["id"])
        await wait_until(lambda: len(pool.workers) == 4 and pool.busy == 4)
        grown = len(pool.workers)
    await wait_until(lambda: pool.completed == 6)
    await wait_until(lambda: len(pool.workers) == 1)  # idle workers left
    await pool.close()
    statuses = [
        await db.fetchval("SELECT status FROM investigations WHERE id = $1", i) for i in ids
    ]
    assert grown == 4
    assert statuses == ["completed"] * 6


async def test_workers_are_recycled_after_their_quota(db: Database) -> None:
    jobs = LocalJobs()
    pool = AgentPool(
        db, jobs, workers=1, agent_concurrency=2, minimum=1, recycle_after=1, tick=0.05
    )
    await pool.start()
    for _ in range(3):
        row = await store.create(db, "pool", Target(), ["amendment_ceiling"])
        await jobs.submit(row["id"])
    await wait_until(lambda: pool.completed == 3)
    await pool.close()
    assert pool.recycled >= 2  # each worker served one job and made way for a fresh one
    assert pool.spawned >= 3


async def test_a_worker_that_fails_its_health_probe_takes_no_job(settings: Settings) -> None:
    async with open_database(settings) as closed:
        pass  # a closed pool: every probe fails
    jobs = LocalJobs()
    pool = AgentPool(closed, jobs, workers=2, agent_concurrency=1, minimum=2, tick=0.05)
    await pool.start()
    await jobs.submit(uuid.uuid4())
    await wait_until(lambda: pool.recycled >= 4)
    await pool.close()
    assert pool.completed == 0
    assert await jobs.backlog() == 1  # the job waits for a healthy worker


async def test_map_reduce_over_chunks_finds_what_one_pass_finds(db: Database) -> None:
    whole = Target()
    parts = await chunks(db, whole, 500)
    assert len(parts) > 3
    for agent in AGENTS:
        one_pass = await agent.run(db, whole)
        chunked = reduce_findings([f for part in parts for f in await agent.run(db, part)])
        key = lambda f: (f.kind, f.contract_ids, f.supplier_ids, f.agency_ids, f.award_ids)  # noqa: E731
        assert sorted(map(key, chunked)) == sorted(map(key, one_pass)), agent.name
