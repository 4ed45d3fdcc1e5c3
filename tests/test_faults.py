"""Faults an operator meets, against services these tests start and own: PostgreSQL
terminating every backend under load.

The loads wait on conditions (every client answered again, every investigation finished),
bounded by generous limits, never on fixed sleeps."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from cidadao_gql import apikeys
from cidadao_gql.agents import Target
from cidadao_gql.app import create_app
from cidadao_gql.db import open_database
from cidadao_gql.ingestion import synthetic
from cidadao_gql.investigations import store
from cidadao_gql.settings import PoolSize, Settings
from tests.conftest import (
    DatabaseFactory,
    connect,
    free_port,
    live_server,
    redis_server,
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
        scale = synthetic.Scale.for_contracts(600)
        dataset = synthetic.generate(scale, 5, await synthetic.current_ids(conn))
        await synthetic.load_dataset(conn, dataset, lambda _: None)
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
