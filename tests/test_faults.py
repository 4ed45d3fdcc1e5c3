"""Faults an operator meets, against services these tests start and own: PostgreSQL
terminating every backend under load, Redis emptied (FLUSHALL) with investigations queued
and running, Redis killed and started again under reads and writes.

The loads wait on conditions (every client answered again, every investigation finished),
bounded by generous limits, never on fixed sleeps."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from cidadao_gql.agents import Target
from cidadao_gql.data import apikeys
from cidadao_gql.data.db import open_database
from cidadao_gql.investigations import runner, store
from cidadao_gql.investigations.events import batches
from cidadao_gql.investigations.pool import AgentPool
from cidadao_gql.investigations.queue import GROUP, STREAM, LocalJobs, StreamJobs
from cidadao_gql.runtime.resources import connect_redis
from cidadao_gql.settings import PoolSize, Settings
from cidadao_gql.web.app import create_app
from tests.conftest import (
    DatabaseFactory,
    connect,
    free_port,
    live_server,
    redis_server,
    seed_synthetic,
    wait_for_redis,
)

READS = [
    "{ contracts(first: 20) { totalCount nodes { number supplier { name } agency { name } } } }",
    "{ suppliers(first: 10) { nodes { name contracts(first: 3) { nodes { number } } } } }",
    "{ agencies(first: 5) { nodes { name } } }",
]
START = """mutation($target: InvestigationTarget!, $agents: [String!]) {
  startInvestigation(target: $target, agents: $agents) { id status }
}"""
START_ANYTHING = {"query": START, "variables": {"target": {}, "agents": []}}
BLOCKED_AGENT = "sanctioned_supplier"  # reads `sanctions`, which starting one never does


@pytest.fixture(scope="module")
async def fault_url(make_database: DatabaseFactory) -> str:
    """A database of this module's own: its backends get terminated, nobody else's."""
    url = await make_database()
    async with connect(url) as conn:
        await seed_synthetic(conn, 600, 5)
    return url


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path):
        await wait_for_redis(url)
        yield url


async def key_for(url: str, scopes: set[str]) -> str:
    async with connect(url) as conn:
        return (await apikeys.create_key(conn, f"faults-{uuid.uuid4()}", frozenset(scopes))).key


async def terminate(killer: asyncpg.Connection) -> int:
    """Terminates every other client backend of the killer's database; how many."""
    killed: int = await killer.fetchval(
        """SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND backend_type = 'client backend'"""
    )
    return killed


async def until(condition: Callable[[], Awaitable[bool]], what: str, limit: float = 60) -> None:
    """Polls `condition` until it holds; fails after `limit` seconds (a generous bound)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.05)


async def cancel_unfinished(url: str) -> None:
    """Earlier tests of this module may leave investigations pending: out of the way."""
    async with connect(url) as conn:
        await conn.execute(
            "UPDATE investigations SET status = 'cancelled' WHERE status IN ('pending', 'running')"
        )


def failure(response: httpx.Response) -> str | None:
    """Why an answer is not a clean GraphQL answer, or None when it is one."""
    if not response.headers.get("content-type", "").startswith("application/"):
        return f"plain text {response.status_code}: {response.text[:80]}"
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        return f"{response.status_code}: {body.get('errors')}"
    return None


# -- PostgreSQL ---------------------------------------------------------------------------


async def test_a_statement_whose_backend_is_terminated_runs_again(fault_url: str) -> None:
    async with (
        open_database(Settings(database_url=fault_url, db_pool_size=PoolSize(3, 3))) as db,
        connect(fault_url) as killer,
    ):
        slow = asyncio.create_task(db.fetchval("SELECT count(*) FROM contracts, pg_sleep(0.3)"))

        async def sleeping() -> bool:
            return bool(
                await killer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.3)%'"
                    " AND state = 'active' AND pid <> pg_backend_pid()"
                )
            )

        await until(sleeping, "the statement to start")
        assert await terminate(killer) >= 1  # mid-statement: AdminShutdownError
        assert await slow == await db.fetchval("SELECT count(*) FROM contracts")
        assert await terminate(killer) >= 1  # idle in the pool, found dead on next use
        row = await store.create(db, "faults", Target(), [])
        assert await terminate(killer) >= 1
        assert (await store.get(db, row["id"], "faults"))["status"] == "pending"
        events = await store.events_of(db, row["id"])
    assert [e["kind"] for e in events] == ["created"]  # the write ran once


async def test_a_job_that_loses_the_database_twice_goes_on_once_it_is_back(
    fault_url: str,
) -> None:
    """An agent's statement loses its connection, and its retry loses the fresh one too
    (DatabaseUnavailable): the investigation is not failed for it. It goes on in place, in
    the same attempt, once the database answers, and finishes once."""
    await cancel_unfinished(fault_url)
    async with (
        open_database(Settings(database_url=fault_url, db_pool_size=PoolSize(2, 4))) as db,
        connect(fault_url) as blocker,
        connect(fault_url) as killer,
    ):
        investigation = (await store.create(db, "lost", Target(), [BLOCKED_AGENT]))["id"]
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
        job = asyncio.create_task(runner.run(db, investigation, 1, pause=0.05))

        seen: set[int] = set()
        found: set[int] = set()

        async def waiting() -> bool:
            """A backend we have not seen yet waits on the lock (or the job ended). Asked on
            a connection of its own: in the blocker's transaction the view stands still."""
            pids = await killer.fetch(
                """SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                    AND datname = current_database() AND pid <> $1""",
                blocker.get_server_pid(),
            )
            found.clear()
            found.update({r["pid"] for r in pids} - seen)
            seen.update(found)
            return job.done() or bool(found)

        for _ in range(2):  # the statement, then its one retry on a fresh connection
            await until(waiting, "the agent to wait on the lock")
            assert found and await killer.fetchval(
                "SELECT bool_and(pg_terminate_backend(pid)) FROM unnest($1::int[]) AS pid",
                list(found),
            )
        await until(waiting, "the agent to wait on the lock once more, or the job to end")
        await transaction.rollback()
        status = await job
        row = await store.get(db, investigation, "lost")
        kinds = [e["kind"] for e in await store.events_of(db, investigation)]
    assert (status, row["status"], row["attempts"], row["error"]) == (
        "completed",
        "completed",
        1,
        None,
    )
    assert kinds.count("started") == 1 and kinds.count("finished") == 1


async def test_a_statement_timeout_is_not_retried(fault_url: str) -> None:
    settings = Settings(database_url=fault_url, db_statement_timeout_ms=50)
    async with open_database(settings) as db:
        with pytest.raises(asyncpg.QueryCanceledError):
            await db.fetchval("SELECT pg_sleep(1)")


async def test_terminating_every_backend_under_load_fails_no_read(
    fault_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = await key_for(fault_url, {"read"})
    settings = Settings(
        database_url=fault_url, response_cache_ttl=0, cache_strategy="none",
        rate_limit_capacity=0, run_investigations=False, db_pool_size=PoolSize(2, 8),
    )  # fmt: skip
    clients, requests = 6, 50
    answers: list[httpx.Response] = []
    answered = [0] * clients
    rounds = killed = 0
    with caplog.at_level(logging.WARNING, logger="cidadao_gql.db"):
        async with live_server(create_app(settings)) as first, connect(fault_url) as killer:

            async def load(n: int) -> None:
                async with httpx.AsyncClient(base_url=first.base_url, timeout=60) as client:
                    for i in range(requests):
                        headers = {"authorization": f"Bearer {key}"} if (n + i) % 2 else {}
                        query = {"query": READS[i % len(READS)]}
                        answers.append(await client.post("/graphql", json=query, headers=headers))
                        answered[n] += 1

            tasks = [asyncio.create_task(load(n)) for n in range(clients)]
            while not all(t.done() for t in tasks):
                before = list(answered)
                found = await terminate(killer)
                rounds, killed = rounds + (found > 0), killed + found

                # The next round waits until every client has had an answer since: a request
                # that lost its connection in this round has been answered by then, so no
                # request can lose two (that would be an outage, not a dropped connection).
                async def moved_on(mark: list[int] = before) -> bool:
                    return all(answered[n] > mark[n] or tasks[n].done() for n in range(clients))

                await until(moved_on, "every client to be answered")
            await asyncio.gather(*tasks)
    failures = [f for f in map(failure, answers) if f]
    assert len(answers) == clients * requests
    assert failures == []
    assert rounds >= 10 and killed >= rounds  # backends were terminated, again and again
    assert any("lost a connection" in r.getMessage() for r in caplog.records)


async def test_an_unexpected_failure_outside_graphql_is_answered_as_json(fault_url: str) -> None:
    """A fault no code expects (here the API keys' table gone) where GraphQL's masking does
    not reach: a coded JSON 500 with the request id, not Starlette's plain text."""
    key = await key_for(fault_url, {"read"})
    settings = Settings(database_url=fault_url, rate_limit_capacity=0, run_investigations=False)
    async with live_server(create_app(settings)) as client, connect(fault_url) as conn:
        await conn.execute("ALTER TABLE api_keys RENAME TO api_keys_gone")
        try:
            answer = await client.post(
                "/graphql", json={"query": READS[2]}, headers={"authorization": f"Bearer {key}"}
            )
        finally:
            await conn.execute("ALTER TABLE api_keys_gone RENAME TO api_keys")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == answer.headers["x-request-id"]


async def test_a_database_that_is_gone_is_unavailable_not_an_internal_error(
    make_database: DatabaseFactory, server_url: str
) -> None:
    """Connections that cannot be made (here: the database was dropped, asyncpg's
    InvalidCatalogNameError on connect) are a dependency down: SERVICE_UNAVAILABLE for a
    read, 503 with Retry-After for the API-key lookup, as for a server that is not there."""
    url = await make_database()
    key = await key_for(url, {"read"})
    settings = Settings(
        database_url=url, response_cache_ttl=0, cache_strategy="none", rate_limit_capacity=0,
        run_investigations=False,
    )  # fmt: skip
    name = url.rpartition("/")[2]
    async with live_server(create_app(settings)) as client, connect(server_url) as admin:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        read = await client.post("/graphql", json={"query": READS[2]})
        keyed = await client.post(
            "/graphql", json={"query": READS[2]}, headers={"authorization": f"Bearer {key}"}
        )
    (error,) = read.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert keyed.status_code == 503 and keyed.headers["retry-after"] == "1"
    (error,) = keyed.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"


# -- The queue and the sweep ---------------------------------------------------------------


async def test_the_sweep_queues_in_batches_up_to_the_room_the_queue_has(fault_url: str) -> None:
    """More unfinished investigations than the queue holds (once, start-up raised QueueFull):
    the sweep fills the room there is, and queues the rest as room is made."""
    await cancel_unfinished(fault_url)
    async with open_database(Settings(database_url=fault_url)) as db:
        await db.execute(
            """INSERT INTO investigations (id, user_id, status, target, created_at)
               SELECT gen_random_uuid(), 'sweep', 'pending', '{}', now() - interval '1 hour'
                 FROM generate_series(1, 1500)"""
        )
        jobs = LocalJobs(max_pending=1000)
        executor = AgentPool(db, jobs, workers=1, agent_concurrency=1)
        assert await executor.sweep() == 1000
        assert await executor.sweep() == 0  # full; and what it holds, it carries
        for _ in range(600):
            job = await jobs.next(wait=1)
            assert job is not None
            await jobs.ack(job[0])  # as if run: gone from the queue, still pending
        # The 600 taken are not carried any more, and 500 were never queued: room for 600.
        assert await executor.sweep() == 600
        assert len(await jobs.carried()) == 1000
    await cancel_unfinished(fault_url)


async def test_the_stream_and_its_group_come_back_when_redis_loses_them(
    fault_url: str, own_redis: str
) -> None:
    await cancel_unfinished(fault_url)
    redis = aioredis.Redis.from_url(own_redis)
    async with open_database(Settings(database_url=fault_url)) as db:
        jobs = StreamJobs(redis, "mine", claim_after=30)
        await jobs.ensure_group()
        queued = (await store.create(db, "sweep", Target(), []))["id"]
        await jobs.submit(queued)
        await redis.flushall()  # the queued job is lost with the stream
        new = (await store.create(db, "sweep", Target(), []))["id"]
        await jobs.submit(new)  # "no such key" on the backlog check: recreated, then queued
        assert jobs.recreated.is_set()
        assert await jobs.carried() == {new}
        await db.execute(
            "UPDATE investigations SET created_at = now() - interval '1 hour' WHERE id = $1",
            queued,
        )
        executor = AgentPool(db, jobs, workers=1, agent_concurrency=1)
        assert await executor.sweep() == 1  # the lost one, from PostgreSQL
        taken = [await jobs.next(wait=1) for _ in range(2)]
        assert {job[1] for job in taken if job} == {new, queued}
        for job in taken:
            assert job is not None
            await jobs.ack(job[0])
        assert await jobs.carried() == set()  # acknowledged jobs leave the stream
        await redis.delete(STREAM)  # a worker polling an emptied Redis: NOGROUP, mended
        jobs.recreated.clear()
        assert await jobs.next(wait=0.01) is None
        assert jobs.recreated.is_set()
    await redis.aclose()
    await cancel_unfinished(fault_url)


async def test_an_investigation_stored_just_before_redis_is_emptied_waits_no_whole_period(
    fault_url: str, own_redis: str
) -> None:
    """Stored, then lost with the stream before anything carried it, and too fresh for the
    sweep the flush sets off: the next round, once it has settled, queues it. The periodic
    round is ten minutes away here, so only that one can."""
    await cancel_unfinished(fault_url)
    redis = aioredis.Redis.from_url(own_redis)
    async with open_database(Settings(database_url=fault_url)) as db:
        jobs = StreamJobs(redis, "mine", claim_after=30)
        await jobs.ensure_group()
        executor = AgentPool(db, jobs, workers=1, agent_concurrency=1, minimum=1, lease=600)
        await executor.start()
        try:
            lost = (await store.create(db, "sweep", Target(), []))["id"]
            await redis.flushall()  # the supervisor's next backlog check finds it emptied

            async def finished() -> bool:
                status: str = (await store.get(db, lost, "sweep"))["status"]
                return status == "completed"

            await until(finished, "the lost investigation to be queued again and run", 60)
        finally:
            await executor.close(drain_seconds=10)
    await redis.aclose()
    await cancel_unfinished(fault_url)


# -- Redis emptied with investigations queued and running ----------------------------------


async def test_flushall_loses_no_investigation(
    fault_url: str, own_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    await cancel_unfinished(fault_url)
    key = await key_for(fault_url, {"read", "investigate"})
    headers = {"authorization": f"Bearer {key}"}
    settings = Settings(
        database_url=fault_url, redis_url=own_redis, rate_limit_capacity=0,
        response_cache_ttl=0, agent_pool_size=PoolSize(2, 2), investigation_claim_after=5,
        db_pool_size=PoolSize(2, 20),
    )  # fmt: skip
    answers: list[httpx.Response] = []
    redis = aioredis.Redis.from_url(own_redis)

    async def start(client: httpx.AsyncClient) -> uuid.UUID:
        body = {"query": START, "variables": {"target": {}, "agents": [BLOCKED_AGENT]}}
        answer = await client.post("/graphql", json=body, headers=headers)
        answers.append(answer)
        assert failure(answer) is None, failure(answer)
        return uuid.UUID(answer.json()["data"]["startInvestigation"]["id"])

    async def count(status: str, ids: list[uuid.UUID]) -> int:
        found: int = await db.fetchval(
            "SELECT count(*) FROM investigations WHERE status = $1 AND id = any($2::uuid[])",
            status,
            ids,
        )
        return found

    with caplog.at_level(logging.WARNING, logger="cidadao_gql.investigations"):
        async with (
            open_database(settings) as db,
            connect(fault_url) as blocker,
            live_server(create_app(settings)) as client,
        ):
            # A second worker process, as `cidadao-gql worker` on another machine would be.
            worker_redis = aioredis.Redis.from_url(own_redis)
            other = AgentPool(
                db, StreamJobs(worker_redis, "other", 5), workers=2, agent_concurrency=1,
                minimum=2, lease=5,
            )  # fmt: skip
            await other.start()
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
            first = [await start(client) for _ in range(8)]

            async def four_running_four_queued() -> bool:
                queued = await redis.xlen(STREAM)  # in hand or waiting
                return await count("running", first) == 4 and queued == 8

            await until(four_running_four_queued, "4 running (every worker stuck) and 4 queued")
            await redis.flushall()
            second = list(await asyncio.gather(*(start(client) for _ in range(10))))
            await transaction.rollback()  # the running ones go on
            everything = first + second

            async def all_finished() -> bool:
                return await count("completed", everything) == len(everything)

            await until(all_finished, "every investigation to complete", limit=180)
            await other.close(drain_seconds=10)
            await worker_redis.aclose()
            groups: Any = await redis.xinfo_groups(STREAM)
            rows = await db.fetch_primary(
                """SELECT i.id, i.status, i.attempts,
                          count(*) FILTER (WHERE e.kind = 'started') AS started,
                          count(*) FILTER (WHERE e.kind = 'finished') AS finished
                     FROM investigations i JOIN investigation_events e ON e.investigation_id = i.id
                    WHERE i.id = any($1::uuid[]) GROUP BY i.id""",
                everything,
            )
    await redis.aclose()
    assert [failure(a) for a in answers] == [None] * 18  # no INTERNAL_SERVER_ERROR
    assert len(rows) == 18
    # Each ran once and finished once: the 4 running across the flush by their workers, the
    # 4 queued ones re-enqueued from PostgreSQL by the sweep, the 10 new ones as usual.
    assert {(r["status"], r["attempts"], r["started"], r["finished"]) for r in rows} == {
        ("completed", 1, 1, 1)
    }
    assert [g[b"name"] if b"name" in g else g["name"] for g in groups] in ([b"workers"], [GROUP])
    recreated = [r for r in caplog.records if "lost the job stream" in r.getMessage()]
    assert 1 <= len(recreated) <= 12  # found and mended, not a warning per poll


async def test_a_subscription_follows_postgresql_while_redis_restarts(
    fault_url: str, tmp_path: Path
) -> None:
    """Redis killed while a subscriber waits on the stream: it is not told of an error; the
    events recorded meanwhile come from PostgreSQL, findings from the stream once Redis is
    back, each once, and it ends with the status PostgreSQL has."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as first:
        await wait_for_redis(url)
        redis = connect_redis(url, timeout=10, connect_timeout=2)  # as open_jobs makes it
        jobs = StreamJobs(redis, "follow")
        async with open_database(Settings(database_url=fault_url)) as db:
            investigation = (await store.create(db, "follow", Target(), []))["id"]
            await jobs.announce(investigation, "created", agents=[])
            reader = batches(db, jobs, investigation, idle=60, pause=0.05)
            seen = list(await anext(reader))
            waiting = asyncio.ensure_future(anext(reader))  # blocked on the stream
            first.kill()
            first.wait(timeout=10)
            assert await store.start(db, investigation) is not None
            await jobs.announce(investigation, "started", attempt=1)  # lost: Redis is down
            seen += await waiting
            with redis_server(port, tmp_path):
                await wait_for_redis(url)
                await jobs.announce(investigation, "finding", kind="x", severity="low")
                assert await store.progress(db, investigation, 1.0, "a")
                await jobs.announce(investigation, "progress", progress=1.0, agent="a")
                assert await store.complete(db, investigation, [], "nothing found")
                await jobs.announce(investigation, "finished", status="completed", findings=0)
                seen += [event async for batch in reader for event in batch]
        await redis.aclose()
    assert [e.kind for e in seen[:2]] == ["created", "started"]
    assert sorted(e.kind for e in seen[2:]) == ["finding", "finished", "progress"]
    assert seen[-1].kind == "finished"
    assert seen[-1].payload == {"status": "completed", "findings": 0}
    await cancel_unfinished(fault_url)


# -- Redis killed and started again under reads and writes ---------------------------------


async def test_restarting_redis_fails_no_read_and_refuses_no_write_once_back(
    fault_url: str, tmp_path: Path
) -> None:
    key = await key_for(fault_url, {"read", "investigate"})
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    settings = Settings(
        database_url=fault_url, redis_url=url, rate_limit_capacity=1_000_000,
        rate_limit_restore_rate=1_000_000, run_investigations=False,
    )  # fmt: skip
    clients = 4
    answered = [0] * clients
    reads: list[httpx.Response] = []
    writes: list[tuple[bool, httpx.Response]] = []  # (sent once Redis answered again, answer)
    phase = {"up": True, "again": False, "stop": False}
    with redis_server(port, tmp_path) as first:
        await wait_for_redis(url)
        async with live_server(create_app(settings)) as server:

            async def load(n: int) -> None:
                headers = {"authorization": f"Bearer {key}"}
                async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
                    i = 0
                    while not phase["stop"]:
                        i += 1
                        body: dict[str, Any]
                        if i % 2:
                            body = {"query": READS[i % len(READS)]}
                            reads.append(await client.post("/graphql", json=body, headers=headers))
                        else:
                            again = phase["again"]
                            body = START_ANYTHING
                            answer = await client.post("/graphql", json=body, headers=headers)
                            writes.append((again, answer))
                        answered[n] += 1

            async def each_answered(times: int) -> None:
                mark = list(answered)

                async def moved_on() -> bool:
                    return all(answered[n] >= mark[n] + times for n in range(clients))

                await until(moved_on, f"every client to be answered {times} times")

            async def burst(body: dict[str, Any]) -> list[httpx.Response]:
                """16 at once: the client's Redis pool holds as many connections after."""
                headers = {"authorization": f"Bearer {key}"}
                return list(
                    await asyncio.gather(
                        *(server.post("/graphql", json=body, headers=headers) for _ in range(16))
                    )
                )

            async def stop(tasks: list[asyncio.Task[None]]) -> None:
                phase["stop"] = True
                await asyncio.gather(*tasks)
                phase["stop"] = False

            reads += await burst({"query": READS[0]})
            tasks = [asyncio.create_task(load(n)) for n in range(clients)]
            await each_answered(4)
            first.kill()  # not a clean shutdown: pooled connections are left dead
            first.wait(timeout=10)
            await each_answered(2)
            # The load holds still while Redis starts, so that every write it sends after is
            # known to go to a Redis that answers (the test's own client has seen it answer).
            await stop(tasks)
            with redis_server(port, tmp_path):
                await wait_for_redis(url)
                phase["again"] = True
                tasks = [asyncio.create_task(load(n)) for n in range(clients)]
                # As many writes at once as there are pooled connections: the dead ones the
                # outage's few requests never drew are drawn now.
                writes += [(True, w) for w in await burst(START_ANYTHING)]
                await each_answered(6)
                await stop(tasks)
    assert [failure(r) for r in reads] == [None] * len(reads)
    assert len(reads) >= clients * 6
    after = [answer for again, answer in writes if again]
    assert len(after) >= clients * 2
    assert [failure(w) for w in after] == [None] * len(after)  # not one refused
    during = [failure(answer) for again, answer in writes if not again]
    # Before, a write goes through; while Redis is down the limiter refuses it, as JSON.
    assert all(f is None or "SERVICE_UNAVAILABLE" in f for f in during), during
    assert any(f and "SERVICE_UNAVAILABLE" in f for f in during)  # the outage was seen
