"""The pool: reads go to the replica when one is configured, writes to the primary; what
counts as a lost connection (tests/test_faults.py loses them for real)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from asyncpg import exceptions as pg

from cidadao_gql.data.db import connection_lost, open_database
from cidadao_gql.settings import PoolSize, Settings
from tests.conftest import DatabaseFactory


async def test_reads_go_to_the_replica(settings: Settings, make_database: DatabaseFactory) -> None:
    # An empty primary and a "replica" holding the data: what a read sees says where it went.
    primary = await make_database()
    routed = replace(settings, database_url=primary, database_replica_url=settings.database_url)
    async with open_database(routed) as db:
        assert await db.fetchval("SELECT count(*) FROM contracts") > 0
        assert [tuple(r) for r in await db.fetch_primary("SELECT count(*) FROM contracts")] == [
            (0,)
        ]
        await db.execute(
            "INSERT INTO api_keys (user_id, key_hash, prefix) VALUES ('x', '\\x01', 'p')"
        )
        assert await db.fetchval("SELECT count(*) FROM api_keys WHERE user_id = 'x'") == 0
        assert len(await db.fetch_primary("SELECT 1 FROM api_keys WHERE user_id = 'x'")) == 1


async def test_pool_is_sized_by_settings(settings: Settings) -> None:
    async with open_database(replace(settings, db_pool_size=PoolSize(3, 7))) as db:
        assert db.primary.get_min_size() == 3
        assert db.primary.get_max_size() == 7
        assert db.primary.get_size() >= 3


async def test_round_trips_are_counted(settings: Settings) -> None:
    async with open_database(replace(settings, db_pool_size=PoolSize(1, 1))) as db:

        async def two_statements() -> None:
            await db.fetchval("SELECT 1")
            await db.fetch("SELECT id FROM contracts WHERE id = any($1::bigint[])", [1, 2, 3])

        trips = db.round_trips
        before, before_all = await trips.settled(), trips.count
        await two_statements()
        cold, cold_all = await trips.settled() - before, trips.count - before_all
        await two_statements()
        warm, warm_all = await trips.settled() - before - cold, trips.count - before_all - cold_all
    # A connection's first use of a statement with arrays asks PostgreSQL about the types;
    # those statements are counted apart from ours.
    assert cold == warm == 2
    assert cold_all > 2
    assert warm_all == 2


@pytest.mark.parametrize(
    "value", [Decimal("1.50"), Decimal("-1E+3"), 0.1, 10**30, True, "12.5", float("inf"),
              Decimal("NaN"), Decimal("sNaN"), Decimal("-NaN")],
)  # fmt: skip
async def test_pools_take_numeric_parameters_as_asyncpg_does(
    settings: Settings, value: Any
) -> None:
    """Pools send numeric as text (cheaper to decode); what a parameter becomes is what
    asyncpg's own binary codec makes of it, on a connection of its own."""
    assert settings.database_url
    plain = await asyncpg.connect(settings.database_url)
    try:
        expected = await plain.fetchval("SELECT $1::numeric", value)
    finally:
        await plain.close()
    async with open_database(replace(settings, db_pool_size=PoolSize(1, 1))) as db:
        found = await db.fetchval("SELECT $1::numeric", value)
    assert found == expected or (found.is_nan() and expected.is_nan())


async def test_pools_refuse_what_is_not_a_number(settings: Settings) -> None:
    async with open_database(replace(settings, db_pool_size=PoolSize(1, 1))) as db:
        with pytest.raises(asyncpg.DataError):
            await db.fetchval("SELECT $1::numeric", "abc")


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (pg.AdminShutdownError("terminating connection due to administrator command"), True),
        (pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (
            pg.InternalClientError("cannot switch to state 12; another operation is in progress"),
            True,
        ),
        (pg.InterfaceError("cannot perform operation: connection is closed"), True),
        (ConnectionResetError(), True),
        (pg.InvalidCatalogNameError('database "gone" does not exist'), True),
        (pg.TooManyConnectionsError("sorry, too many clients already"), True),
        (pg.CannotConnectNowError("the database system is starting up"), True),
        (pg.InvalidPasswordError('password authentication failed for user "x"'), True),
        (pg.InvalidAuthorizationSpecificationError('role "x" does not exist'), True),
        (ConnectionRefusedError(), True),
        (pg.QueryCanceledError("canceling statement due to statement timeout"), False),
        (TimeoutError(), False),
        (pg.InterfaceError("pool is closed"), False),
        (pg.UndefinedTableError('relation "x" does not exist'), False),
    ],
)
def test_only_a_lost_connection_counts_as_one(error: Exception, lost: bool) -> None:
    """What Database runs once more, and answers SERVICE_UNAVAILABLE when it fails again:
    never a timeout, a closed pool or a wrong statement."""
    assert connection_lost(error) is lost


async def test_a_cancelled_statement_leaves_no_backend_mid_statement(settings: Settings) -> None:
    """asyncpg prepares a new statement (Parse, Describe, Flush) and binds it afterwards;
    cancelled in between, the backend was left in the middle of the statement — `active`,
    waiting for the client, holding the statement's locks until the connection's next use —
    and a `LOCK TABLE` behind it (a migration, a test's blocker) waited for ever. Requests
    are cancelled by the operation timeout and by health checks' own. Here each statement,
    new to the connection, is cancelled after `turns` turns of the loop, with PostgreSQL's
    answers to what it sent so far already in the socket (the loop held meanwhile)."""
    assert settings.database_url
    watcher = await asyncpg.connect(settings.database_url)
    async with open_database(replace(settings, db_pool_size=PoolSize(1, 1))) as db:
        left = []
        for turns in range(12):
            task = asyncio.create_task(
                db.fetchval(f"SELECT count(*) + {turns} FROM agencies WHERE id > $1", 0)
            )
            for _ in range(turns):
                await asyncio.sleep(0)
            time.sleep(0.05)  # noqa: ASYNC251 (the loop held on purpose: PostgreSQL answers)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0.05)  # the backend reads what was sent since
            found = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                " 'cidadao-gql:primary' AND datname = current_database()"
                " AND state = 'active' AND wait_event = 'ClientRead'"
            )
            if found:
                left.append(turns)
    await watcher.close()
    assert left == []


async def test_a_connection_is_put_back_at_once_or_else_shielded(settings: Settings) -> None:
    """After a plain statement the connection goes back to the pool without suspending
    (no task, no shield: nothing a cancellation could land in, data/db.Checkout); this
    fails when asyncpg's release starts to wait there. In a transaction, or expired by the
    pool, it goes back through asyncpg's shielded release, and the pool keeps its size."""
    from cidadao_gql.data.db import connection

    async with open_database(replace(settings, db_pool_size=PoolSize(1, 1))) as db:
        pool = db.primary
        checkout = connection(pool)
        conn = await checkout.__aenter__()
        assert await conn.fetchval("SELECT 1") == 1
        putting_back = checkout.__aexit__(None, None, None)
        with pytest.raises(StopIteration):  # finished at its first step: never suspended
            putting_back.send(None)
        assert pool.get_idle_size() == 1
        async with connection(pool) as conn:  # the same connection, usable
            assert await conn.fetchval("SELECT 2") == 2
        async with connection(pool) as conn:
            transaction = conn.transaction()
            await transaction.start()  # left open: the reset rolls it back, waiting
        async with connection(pool) as conn:
            await pool.expire_connections()  # an older generation: closed on its way back
            assert await conn.fetchval("SELECT 3") == 3
        assert await db.fetchval("SELECT 4") == 4  # on a new connection
        assert pool.get_idle_size() == 1
