"""The asyncpg pools: a primary for writes and a replica (when configured) for reads.

Every statement goes through asyncpg's statement cache, so repeated queries run as
prepared statements. Each connection reports its queries to a logger, which counts SQL
round trips; tests read the count to hold the N+1 budget.

A connection the server dropped (a terminated backend, a restart, a reset socket) is not
the caller's problem: every statement that goes through `Database` runs once more, on a
fresh connection, when the first try lost its connection; a second loss, or a connection
that cannot be made at all (no server, no such database, too many connections, a role
refused), is DatabaseUnavailable (SERVICE_UNAVAILABLE), never a driver error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeAlias, TypeVar

import asyncpg
import orjson
from asyncpg import exceptions as pg
from asyncpg.connection import LoggedQuery
from asyncpg.pool import PoolConnectionProxy

from cidadao_gql import metrics
from cidadao_gql.errors import DatabaseUnavailable
from cidadao_gql.settings import Settings

Record = asyncpg.Record
Connection: TypeAlias = "PoolConnectionProxy[Any]"  # the stubs' generic; not at runtime
T = TypeVar("T")
log = logging.getLogger("cidadao_gql.db")

# Connection-level: the server ended the session (pg_terminate_backend, shutdown, crash
# recovery, class 08), the client found the connection broken under it (asyncpg's
# protocol left in a bad state, a reset socket), or a new connection was refused before
# any statement ran: the database is gone or renamed (3D000), the server is full
# (53300), starting or recovering (57P03), or refuses the role (class 28). None of these
# says anything about the statement, so none may reach a client as an internal error. A
# statement timeout (57014) or an asyncio timeout is not one.
_LOST = (
    pg.PostgresConnectionError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.CannotConnectNowError,
    pg.InvalidCatalogNameError,
    pg.TooManyConnectionsError,
    pg.InvalidAuthorizationSpecificationError,
    pg.InternalClientError,
    ConnectionError,
)


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the connection died, or could not be made, rather than that the
    statement failed."""
    if isinstance(exc, _LOST):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        return True  # refused, unreachable: the server is not there (yet)
    # "connection is closed", not "pool is closed": that one is ours, and lasts.
    return isinstance(exc, pg.InterfaceError) and "connection is closed" in str(exc)


class RoundTrips:
    """Counts statements sent to PostgreSQL, as asyncpg's query logger reports them.

    `count` is every statement; `ours` leaves out asyncpg's own type introspection, which a
    connection runs once, the first time a statement of its needs an unusual type, and
    which says nothing about how many statements a request costs.
    """

    def __init__(self) -> None:
        self.count = 0
        self.introspection = 0

    def __call__(self, record: LoggedQuery) -> None:
        self.count += 1
        if "typeinfo_tree" in record.query or "current_setting('jit')" in record.query:
            self.introspection += 1

    @property
    def ours(self) -> int:
        return self.count - self.introspection

    async def settled(self) -> int:
        """Our statements, once asyncpg has delivered its logs (it defers them a loop turn)."""
        await asyncio.sleep(0)
        return self.ours


class Database:
    """Two pools behind one face. Reads go to the replica when there is one; `*_primary`
    reads must see our own writes (not a possibly lagging replica)."""

    def __init__(
        self, primary: asyncpg.Pool, replica: asyncpg.Pool | None, round_trips: RoundTrips
    ) -> None:
        self.primary = primary
        self.reader = replica or primary
        self.round_trips = round_trips

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        return await self._twice(self.reader, lambda conn: conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        return await self._twice(self.reader, lambda conn: conn.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._twice(self.reader, lambda conn: conn.fetchval(sql, *args))

    async def fetch_primary(self, sql: str, *args: Any) -> list[Record]:
        return await self._twice(self.primary, lambda conn: conn.fetch(sql, *args))

    async def fetchrow_primary(self, sql: str, *args: Any) -> Record | None:
        return await self._twice(self.primary, lambda conn: conn.fetchrow(sql, *args))

    async def fetchval_primary(self, sql: str, *args: Any) -> Any:
        return await self._twice(self.primary, lambda conn: conn.fetchval(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        """A write of one statement; it must be idempotent, as every caller's is (an
        upsert, a guarded UPDATE, an event row), since it may run twice (see `write`)."""
        return await self._twice(self.primary, lambda conn: conn.execute(sql, *args))

    async def write(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """`work` in one transaction on the primary. When the connection is lost the server
        rolls the transaction back, and `work` runs once more on a fresh connection; only
        a loss during COMMIT itself leaves it unknown whether the first try committed, so
        `work` must find its own earlier effect harmless (our writes are guarded by the
        state they change)."""

        async def transaction(conn: Connection) -> T:
            async with conn.transaction():
                return await work(conn)

        return await self._twice(self.primary, transaction)

    async def _twice(self, pool: asyncpg.Pool, work: Callable[[Connection], Awaitable[T]]) -> T:
        try:
            async with connection(pool) as conn:
                return await work(conn)
        except Exception as exc:
            if not connection_lost(exc):
                raise
            # When one connection was dropped, its idle siblings usually were too (a restart,
            # a failover, every backend terminated): replace them all rather than try each.
            log.warning("database: lost a connection (%r); once more on a fresh one", exc)
            await pool.expire_connections()
        try:
            async with connection(pool) as conn:
                return await work(conn)
        except Exception as exc:
            if connection_lost(exc):
                raise DatabaseUnavailable(
                    "the database is unavailable; retry shortly", retryAfter=1
                ) from exc
            raise

    def publish_pool_sizes(self) -> None:
        """Open and idle connections of each pool, for the gauges."""
        pools = {"primary": self.primary}
        if self.reader is not self.primary:
            pools["replica"] = self.reader
        for role, pool in pools.items():
            metrics.DB_POOL_CONNECTIONS.labels(role, "open").set(pool.get_size())
            metrics.DB_POOL_CONNECTIONS.labels(role, "idle").set(pool.get_idle_size())


def connection(pool: asyncpg.Pool) -> Checkout:
    """A pooled connection, closed rather than put back when its user is cancelled (the
    operation timed out, a health check gave up) between two of asyncpg's messages. asyncpg
    prepares a statement new to the connection with Parse, Describe and Flush, and binds it
    once the description is back: cancelled in between, the backend stays in the middle of
    that statement, holding its locks until the connection's next statement, and a `LOCK
    TABLE` behind them (a migration) waits that long (tests/test_db.py). Closing the socket
    ends that backend at once: it is waiting to read from us. A statement still running is
    left to asyncpg, which sends PostgreSQL a cancel request and waits for it before the
    pool takes the connection back: a closed socket would not stop a backend waiting on a
    lock (tests/schema/test_limits.py). `_is_cancelling` is the check asyncpg's own pool
    makes on release."""
    return Checkout(pool)


class Checkout:
    """`connection`'s context (a class: an async generator's was a tenth of the statement's
    own cost in Python on a node lookup). Put back in place when nothing in the putting back
    can wait (see `_puts_back_at_once`); else through asyncpg's `Pool.release`, which
    shields it from cancellation in a task of its own: on a node lookup that task, and the
    shield's future, were 5 % of our process (py-spy under wrk)."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def __aenter__(self) -> Connection:
        self.conn: Connection = await self.pool.acquire()
        return self.conn

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        conn = self.conn
        cancelled = kind is not None and issubclass(kind, asyncio.CancelledError)
        if cancelled and not conn._protocol._is_cancelling():  # type: ignore[attr-defined]
            conn.terminate()
        if _puts_back_at_once(self.pool, conn):
            # Nothing below awaits anything that suspends: no cancellation can land
            # halfway, which is all the shield is for.
            holder = conn._holder
            conn._con._on_release()  # type: ignore[attr-defined]  # asyncpg private: see below
            await holder.release(holder._timeout)  # type: ignore[attr-defined]  # asyncpg private
        else:
            await self.pool.release(conn)


def _puts_back_at_once(pool: asyncpg.Pool, conn: Connection) -> bool:
    """Whether asyncpg's PoolConnectionHolder.release would finish without waiting: the
    connection open, out of any transaction (our reset, `_reset`, then sends nothing), not
    cancelling a statement, of the pool's generation and under its query limit (else it is
    closed, which waits). Read from asyncpg 0.32's private state, here only; tests/test_db.py
    fails when a release that way no longer finishes at once."""
    con = conn._con  # type: ignore[attr-defined]
    if con is None or con.is_closed() or con.is_in_transaction() or con._top_xact is not None:
        return False
    holder = conn._holder
    protocol = con._protocol
    return bool(
        not protocol._is_cancelling()
        and holder._generation == pool._generation  # type: ignore[attr-defined]
        and protocol.queries_count < holder._max_queries  # type: ignore[attr-defined]  # private
    )


async def init_connection(conn: asyncpg.Connection, log: Callable[[LoggedQuery], None]) -> None:
    """Our codecs, and `log` told of every statement (a RoundTrips, or the pools' logger)."""
    # Binary jsonb is a version byte (1) and the JSON text; binary also serves COPY.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
    conn.add_query_logger(log)


def _numeric_text(value: Any) -> str:
    """A numeric parameter as PostgreSQL's text input takes it, accepting what asyncpg's
    binary encoder accepts, as it does: any Decimal(value) (a float exactly, a bool as 0/1,
    a numeric string), every NaN (signalling or signed) as NaN; anything else raises, which
    asyncpg reports as DataError for the argument."""
    number = Decimal(value)
    return "NaN" if number.is_nan() else str(number)


async def _reset(conn: asyncpg.Connection) -> None:
    """Pooled connections never change session state (no SET, LISTEN or advisory locks), so
    asyncpg's default reset statement would cost a round trip per checkout for nothing."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _server_settings(role: str, settings: Settings) -> dict[str, str]:
    # JIT compilation costs more than it saves on short OLTP statements; statement_timeout
    # stops a statement the API has stopped waiting for (0 turns it off).
    return {
        "application_name": f"cidadao-gql:{role}",
        "jit": "off",
        "random_page_cost": "1.1",
        "statement_timeout": str(settings.db_statement_timeout_ms),
    }


async def _create_pool(
    url: str, settings: Settings, role: str, round_trips: RoundTrips
) -> asyncpg.Pool:
    duration = metrics.DB_QUERY_DURATION.labels(role)

    def observe(record: LoggedQuery) -> None:  # one logger: asyncpg schedules each apart
        round_trips(record)
        duration.observe(record.elapsed)

    async def init(conn: asyncpg.Connection) -> None:
        await init_connection(conn, observe)
        # Numeric values as text: Decimal(text) costs a third of asyncpg's binary decoding
        # (a 100-row page of contracts has 200 of them). Pools never COPY, which needs the
        # binary codec: loaders connect on their own.
        await conn.set_type_codec(
            "numeric", encoder=_numeric_text, decoder=Decimal, schema="pg_catalog", format="text"
        )

    pool = await asyncpg.create_pool(
        url,
        min_size=settings.db_pool_size.minimum,
        max_size=settings.db_pool_size.maximum,
        statement_cache_size=settings.db_statement_cache_size,
        server_settings=_server_settings(role, settings),
        init=init,
        reset=_reset,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    if settings.database_url is None:
        raise ValueError("open_database needs settings.database_url")
    round_trips = RoundTrips()
    primary = await _create_pool(settings.database_url, settings, "primary", round_trips)
    replica = None
    try:
        if settings.database_replica_url:
            replica = await _create_pool(
                settings.database_replica_url, settings, "replica", round_trips
            )
        yield Database(primary, replica, round_trips)
    finally:
        if replica is not None:
            await replica.close()
        await primary.close()
