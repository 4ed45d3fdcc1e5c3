"""Versioned SQL migrations: `NNNN_name.sql` files applied in order, each in a transaction.

A second run applies nothing. A migration that changed after it was applied is refused
(its checksum no longer matches), because the database would no longer match the code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cidadao_gql.errors import MigrationError

# Any constant will do; it only has to be the same for every process that migrates.
_LOCK_KEY = 0x6369_6461_6461_6F


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(int(version), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


async def pending_migrations(
    conn: asyncpg.Connection | PoolConnectionProxy[Any],
) -> list[Migration]:
    """The migrations not yet applied (all of them on an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied = (
        {r["version"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
        if exists
        else {}
    )
    pending = []
    for migration in load_migrations():
        checksum = applied.get(migration.version)
        if checksum is None:
            pending.append(migration)
        elif checksum != migration.checksum:
            raise MigrationError(
                f"migration {migration.version}_{migration.name} changed after it was applied"
            )
    return pending


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply what is pending; returns what was applied. Safe to run from several processes."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version     integer PRIMARY KEY,
                   name        text NOT NULL,
                   checksum    text NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now())"""
        )
        pending = await pending_migrations(conn)
        for migration in pending:
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    return pending
