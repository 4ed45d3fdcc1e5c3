"""The `cidadao-gql` command line: the group, its shared helpers, and every command but
`import` (cli.importing)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import click
import httpx
import redis.asyncio as aioredis
import uvicorn
from tqdm import tqdm

from cidadao_gql.cli.client import SAVE_EVERY, Checkpoint, Exporter, read_variables
from cidadao_gql.data import apikeys
from cidadao_gql.data.cache import announce, bump_version
from cidadao_gql.data.cache.edge import EdgePurger
from cidadao_gql.data.db import Database, RoundTrips, init_connection, open_database
from cidadao_gql.data.persisted import register_directory
from cidadao_gql.data.ratelimit import Allowance
from cidadao_gql.data.session_store import end_sessions
from cidadao_gql.errors import (
    CidadaoError,
    ConfigError,
    DatabaseFailed,
    ExitStatus,
    QueryFailed,
)
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.investigations.narrative import Narrator
from cidadao_gql.investigations.pool import AgentPool
from cidadao_gql.investigations.queue import StreamJobs
from cidadao_gql.migrations import migrate
from cidadao_gql.observability import configure_logging, logging_config
from cidadao_gql.runtime import embedded
from cidadao_gql.runtime.resources import make_agent_pool, open_jobs
from cidadao_gql.settings import Settings
from cidadao_gql.web import graphiql, health, sessions

P = ParamSpec("P")
R = TypeVar("R")

# What a failed connection or statement raises: asyncpg's errors, and the socket's.
_DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _run(command: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """Run an async command; our errors end it with one line, their message, and their
    exit status (ExitStatus; README, Data)."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return asyncio.run(command(*args, **kwargs))
        except KeyboardInterrupt:
            # Every write is in one transaction, which the closed connection rolled back.
            click.echo("Error: interrupted: nothing was written", err=True)
            raise click.exceptions.Exit(ExitStatus.INTERRUPTED) from None
        except (CidadaoError, OSError) as exc:
            if isinstance(exc, OSError) and exc.filename is None:
                raise  # not a file of ours: a bug, shown whole
            status = getattr(exc, "exit_status", ExitStatus.FAILED)
            logging.getLogger(__name__).debug("command failed", exc_info=exc)
            # What click.ClickException prints, with a status of our choosing.
            click.echo(f"Error: {exc}", err=True)
            raise click.exceptions.Exit(status) from None

    return wrapper


def _where(url: str) -> str:
    """The server and database of a URL, without its password: `user@host:port/db`."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = parts.hostname or query.get("host", ["localhost"])[0]
    database = parts.path.lstrip("/") or query.get("dbname", [""])[0] or parts.username or ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}:{parts.port or 5432}/{database}"


@contextmanager
def _database_errors(url: str, doing: str) -> Iterator[None]:
    """A database that cannot be reached, or refuses us, as one line naming it."""
    try:
        yield
    except _DATABASE_ERRORS as exc:
        if isinstance(exc, OSError) and not _is_network(exc):
            raise  # a file of ours, not the database
        logging.getLogger(__name__).debug("database failed", exc_info=exc)
        reason = (
            "no answer in time" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        )
        raise DatabaseFailed(f"PostgreSQL at {_where(url)}: {doing} failed: {reason}") from None


def _is_network(exc: OSError) -> bool:
    return isinstance(exc, ConnectionError | socket.gaierror) or exc.filename is None


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except CidadaoError as exc:
        raise click.ClickException(str(exc)) from None


async def _database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded server's (started if need be) when it is not set."""
    if settings.database_url:
        return settings.database_url
    return await asyncio.to_thread(embedded.start_postgres, settings.data_dir)


@asynccontextmanager
async def _connect(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the command's database; a failure to connect, or of any statement
    run on it, ends the command as DatabaseFailed."""
    url = await _database_url(settings)
    with _database_errors(url, "connecting"):
        conn = await asyncpg.connect(url)
    try:
        with _database_errors(url, "a statement"):
            await init_connection(conn, RoundTrips())
            yield conn
    finally:
        with suppress(*_DATABASE_ERRORS):
            await conn.close()


@asynccontextmanager
async def _open_database(settings: Settings) -> AsyncIterator[Database]:
    """The pools of `open_database`; a database that cannot be reached is DatabaseFailed."""
    assert settings.database_url is not None
    async with AsyncExitStack() as stack:
        with _database_errors(settings.database_url, "connecting"):
            database = await stack.enter_async_context(open_database(settings))
        yield database


async def _invalidate(settings: Settings, conn: asyncpg.Connection, namespace: str) -> None:
    """After a write: bump the namespace's version, and tell the running instances and the
    edge caches (EDGE_PURGE_URL)."""
    version = await bump_version(conn, namespace)
    if settings.redis_url:
        redis = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        try:
            await announce(redis, namespace, version)
        finally:
            await redis.aclose()
    await EdgePurger(settings.edge_purge_urls, settings.edge_purge_token).purge(
        namespace
    )  # after: instances hear it first


@click.group()
@click.version_option(package_name="cidadao-gql")
def main() -> None:
    """A GraphQL API over Brazilian public-procurement data."""
    try:
        level = Settings.from_env().log_level
    except ConfigError:
        level = "INFO"  # the command that reads the settings says what is wrong with them
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default=None, help="Overrides HOST.")
@click.option("--port", type=int, default=None, help="Overrides PORT.")
@click.option("--workers", type=int, default=None, help="Overrides WORKERS.")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API. Without DATABASE_URL, on an embedded PostgreSQL filled on first start."""
    settings = _settings()
    if settings.database_url is None:
        settings = _run(embedded.prepare)(settings)
        assert settings.database_url is not None
        os.environ["DATABASE_URL"] = settings.database_url  # for the worker processes
    _run(_probe_database)(settings)  # one line, exit 1, rather than a traceback per worker
    _graphiql_files(settings)
    workers = workers or settings.workers
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its samples here; /metrics adds them up (see metrics.py).
        samples = settings.data_dir / "metrics" / str(os.getpid())
        shutil.rmtree(samples, ignore_errors=True)
        samples.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(samples)
    click.echo(f"GraphiQL: http://{host or settings.host}:{port or settings.port}/graphql")
    # uvicorn re-raises SIGTERM after its graceful shutdown; a Python handler turns that into
    # a normal exit, so atexit hooks (the embedded PostgreSQL's stop) still run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "cidadao_gql.web.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings),
        timeout_graceful_shutdown=10,
        http="cidadao_gql.web.http_protocol:OneWrite",
        ws="cidadao_gql.web.ws_compression:WebSocketProtocol",
    )


@main.command()
@_run
async def worker() -> None:
    """Run investigation jobs from Redis Streams until SIGTERM or SIGINT (needs REDIS_URL).
    A worker killed mid-job loses nothing: another claims its job."""
    settings = _settings()
    if not settings.jobs_url:
        raise click.ClickException("a worker takes jobs from Redis: set REDIS_URL")
    configure_logging(settings)  # JSON lines on stderr, like `serve` (README, Logs)
    settings = replace(settings, database_url=await _database_url(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    narrator = Narrator(settings)
    async with _open_database(settings) as database, open_jobs(settings) as jobs:
        agent_pool = make_agent_pool(settings, database, jobs, narrator)
        await agent_pool.start()
        redis = jobs.redis if isinstance(jobs, StreamJobs) else None
        assert redis is not None  # REDIS_URL is set, so the jobs are a stream
        watcher = asyncio.create_task(health.watch(database, redis))
        probes = None
        if settings.worker_metrics_port:
            probes = _ProbeServer(
                uvicorn.Config(
                    health.worker_app(database, redis, lambda: _running(agent_pool)),
                    host="0.0.0.0",  # probed and scraped from outside the pod
                    port=settings.worker_metrics_port,
                    log_level="warning",
                    log_config=logging_config(settings),  # JSON too, not uvicorn's own
                    lifespan="off",
                )
            )
            serving = asyncio.create_task(probes.serve())
        logging.getLogger(__name__).info(
            "worker: %d slots, waiting for jobs", settings.agent_pool_size.maximum
        )
        await stop.wait()
        await agent_pool.close()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        if probes is not None:
            probes.should_exit = True
            await serving
    await narrator.close()


async def _probe_database(settings: Settings) -> None:
    async with _connect(settings):
        pass


class _ProbeServer(uvicorn.Server):
    """uvicorn for the worker's probes and metrics, leaving signals to the worker: it drains
    its jobs on SIGTERM and stops this server after."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _running(agent_pool: AgentPool) -> bool:
    """Liveness: the supervisor that keeps the pool staffed has not stopped."""
    return agent_pool.supervisor is not None and not agent_pool.supervisor.done()


@main.group()
def db() -> None:
    """Database schema and data."""


@db.command("migrate")
@_run
async def db_migrate() -> None:
    """Apply pending migrations (a second run applies nothing)."""
    async with _connect(_settings()) as conn:
        applied = await migrate(conn)
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    click.echo(f"{len(applied)} migration(s) applied")


@db.command("seed")
@click.option("--contracts", type=click.IntRange(1, 50_000_000), default=100_000, show_default=True)
@click.option("--seed", "seed", type=int, default=1, show_default=True)
@click.option("--reset", is_flag=True, help="Empty all data tables first.")
@_run
async def db_seed(contracts: int, seed: int, reset: bool) -> None:
    """Generate and COPY a synthetic data set with planted anomalies (ground truth)."""
    async with _connect(_settings()) as conn:
        await migrate(conn)
        if reset:
            tables = ", ".join((*loading.LOAD_ORDER, "planted_anomalies"))
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        elif await conn.fetchval("SELECT count(*) FROM contracts"):
            raise click.ClickException("contracts already exist; use --reset to replace all data")
        click.echo(f"generating {contracts:,} contracts (seed {seed})")
        dataset = synthetic.generate(
            synthetic.Scale.for_contracts(contracts), seed, await loading.current_ids(conn)
        )
        with tqdm(total=loading.row_count(dataset), unit="row", unit_scale=True) as bar:
            await loading.load_dataset(conn, dataset, bar.update)
        await _invalidate(_settings(), conn, "data")
        for name, table in dataset.tables.items():
            click.echo(f"{name}: {len(table):,}")
        click.echo(f"planted anomalies: {len(dataset.planted):,}")


@main.group()
def apikey() -> None:
    """API keys for `Authorization: Bearer <key>`."""


@apikey.command("create")
@click.option("--user", "user_id", required=True)
@click.option("--scope", "scopes", type=click.Choice(sorted(apikeys.SCOPES)), multiple=True,
              default=["read"], show_default=True)  # fmt: skip
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
@click.option(
    "--capacity",
    type=click.IntRange(1, 10_000_000),
    default=None,
    help="The key's own rate-limit bucket, in cost points (with --refill).",
)
@click.option("--refill", type=click.IntRange(1, 10_000_000), default=None,
              help="Points a second that bucket refills (with --capacity).")  # fmt: skip
@_run
async def apikey_create(
    user_id: str, scopes: tuple[str, ...], expires_in_days: int | None,
    capacity: int | None, refill: int | None,
) -> None:  # fmt: skip
    """Create a key; it is shown once and stored only as a hash."""
    if (capacity is None) != (refill is None):
        raise click.UsageError("--capacity and --refill go together")
    allowance = None if capacity is None or refill is None else Allowance(capacity, refill)
    expires = (
        None if expires_in_days is None else datetime.now(UTC) + timedelta(days=expires_in_days)
    )
    async with _connect(_settings()) as conn:
        await migrate(conn)
        new = await apikeys.create_key(conn, user_id, frozenset(scopes), expires, allowance)
        await _invalidate(_settings(), conn, "apikeys")
    click.echo(f"key id {new.id} for {user_id}; keep it now, it is not shown again:", err=True)
    click.echo(new.key)


@apikey.command("revoke")
@click.argument("key_id", type=int)
@_run
async def apikey_revoke(key_id: int) -> None:
    """Revoke a key by its id."""
    async with _connect(_settings()) as conn:
        if not await apikeys.revoke_key(conn, key_id):
            raise click.ClickException(f"no live key with id {key_id}")
        await _invalidate(_settings(), conn, "apikeys")
    click.echo(f"revoked key {key_id}")


@main.group()
def session() -> None:
    """Browser sessions (`POST /session`)."""


@session.command("revoke")
@click.option("--user", "user_id", required=True)
@_run
async def session_revoke(user_id: str) -> None:
    """Sign a user out everywhere: end every session of theirs, on every instance."""
    async with _connect(_settings()) as conn:
        ended = await end_sessions(conn, user_id)
        if ended:
            await _invalidate(_settings(), conn, sessions.VERSION)
    click.echo(f"ended {ended} session(s) of {user_id}")


@main.group()
def documents() -> None:
    """Trusted documents (PERSISTED_QUERIES_ONLY=true runs these and nothing else)."""


@documents.command("register")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_run
async def documents_register(directory: Path) -> None:
    """Register every .graphql file below DIRECTORY, by the SHA-256 of its text."""
    async with _connect(_settings()) as conn:
        await migrate(conn)
        registered = await register_directory(conn, directory)
    for name, digest in registered:
        click.echo(f"{digest}  {name}")
    click.echo(f"{len(registered)} document(s) registered", err=True)


@main.command()
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The server.")
@click.option(
    "--path", "connection", required=True, help="Dotted path to the connection in `data`."
)
@click.option("--variables", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Variable sets: .ndjson (one object a line) or .csv.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--format", "output_format", type=click.Choice(["ndjson", "csv"]), default="ndjson")
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Rows a page; over 100 needs a bulk key (one with --capacity).")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--token", envvar="CIDADAO_TOKEN", help="API key or JWT (or CIDADAO_TOKEN).")
@click.option("--save-every", type=click.FloatRange(0, 60), default=SAVE_EVERY, show_default=True,
              help="Seconds between checkpoints (0: after every page).")  # fmt: skip
@_run
async def query(
    document: Path, url: str, connection: str, variables: Path | None, out: Path,
    output_format: str, page_size: int, concurrency: int, token: str | None, save_every: float,
) -> None:  # fmt: skip
    """Export every page of a connection for each variable set, resumably. DOCUMENT must
    declare `$first: Int` and `$after: String` and pass them to the connection."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per page, under the bar
    sets = await asyncio.to_thread(read_variables, variables)
    text = await asyncio.to_thread(document.read_text, encoding="utf-8")
    checkpoint = Checkpoint.load(out.with_name(out.name + ".checkpoint"))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, http2=True, timeout=60) as http:
        try:
            exporter = Exporter(
                http, text, connection, out, checkpoint,
                output_format, page_size, concurrency, save_every=save_every,
            )  # fmt: skip
        except QueryFailed as exc:
            raise click.ClickException(str(exc)) from None
        try:
            rows = await exporter.run(sets)
        except QueryFailed as exc:
            raise click.ClickException(f"the server refused a page: {exc}") from None
    click.echo(f"{rows:,} rows written to {out} ({len(sets)} variable set(s))", err=True)


def _graphiql_files(settings: Settings) -> None:
    """GraphiQL's files from the npm registry, once, when npm is here; otherwise the page
    loads them from unpkg."""
    directory = graphiql.assets_dir(settings)
    if graphiql.installed(directory, graphiql.PAGE):
        return
    try:
        graphiql.install(directory, graphiql.PAGE)
        click.echo(f"GraphiQL's files installed from the npm registry into {directory}", err=True)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        click.echo(f"GraphiQL will load its files from unpkg.com ({exc})", err=True)


@main.command("graphiql-install")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Where to install (default GRAPHIQL_ASSETS_DIR, or CIDADAO_DATA_DIR/graphiql).")  # fmt: skip
def graphiql_install(directory: Path | None) -> None:
    """Install GraphiQL's files from the npm registry, to serve them instead of unpkg's."""
    settings = _settings()
    target = directory or graphiql.assets_dir(settings)
    try:
        graphiql.install(target, graphiql.PAGE)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        raise click.ClickException(f"could not install GraphiQL's files: {exc}") from None
    click.echo(f"GraphiQL's files are in {target}; set GRAPHIQL_ASSETS_DIR={target} to use them")


@main.command("export-schema")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write; standard output by default.")  # fmt: skip
def export_schema(output: Path | None) -> None:
    """Print the GraphQL SDL (the committed schema.graphql is this output)."""
    from cidadao_gql.execution.executable_schema import build_schema, sdl

    text = sdl(build_schema(_settings()))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
