"""Migrations: applied once, idempotent, and refusing a migration edited after the fact."""

from __future__ import annotations

import pytest

from cidadao_gql.errors import MigrationError
from cidadao_gql.migrations import load_migrations, migrate
from tests.conftest import DatabaseFactory, connect

NAMED_INDEXES = {
    "investigations_status_user_idx": "(status, user_id, created_at DESC)",
    "investigations_active_idx": "WHERE (status = ANY (ARRAY['pending'::text, 'running'::text]))",
    "contracts_metadata_idx": "USING gin (metadata jsonb_path_ops)",
    "contracts_object_fts_idx": "USING gin (object_search)",
    "contracts_signed_idx": "(signed_on, id)",
    "contracts_value_idx": "(final_value, id)",
}


async def test_second_run_changes_nothing(make_database: DatabaseFactory) -> None:
    url = await make_database()  # already migrated once
    async with connect(url) as conn:
        schema_before = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        )
        assert await migrate(conn) == []
        applied = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        schema_after = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        )
    assert [(r["version"], r["name"]) for r in applied] == [
        (m.version, m.name) for m in load_migrations()
    ]
    assert schema_before == schema_after


async def test_the_named_indexes_exist(make_database: DatabaseFactory) -> None:
    url = await make_database()
    async with connect(url) as conn:
        rows = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        )
    definitions = {r["indexname"]: r["indexdef"] for r in rows}
    for name, fragment in NAMED_INDEXES.items():
        assert fragment in definitions[name], definitions.get(name)


async def test_an_edited_migration_is_refused(make_database: DatabaseFactory) -> None:
    url = await make_database()
    async with connect(url) as conn:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(MigrationError) as caught:
            await migrate(conn)
    assert caught.value.code == "MIGRATION_FAILED"
    assert "changed after it was applied" in str(caught.value)
