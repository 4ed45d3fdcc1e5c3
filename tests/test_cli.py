"""The command line, run as a user runs it (in-process, through click)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cidadao_gql.cli import main
from tests.conftest import ROOT, SAMPLE_DIR, DatabaseFactory


@pytest.fixture
async def database_url(make_database: DatabaseFactory) -> str:
    return await make_database()


def invoke(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"DATABASE_URL": url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_migrate_then_import_twice(database_url: str, tmp_path: Path) -> None:
    assert "0 migration(s) applied" in invoke(database_url, "db", "migrate")
    rejects = tmp_path / "rejects.csv"
    first = invoke(database_url, "import", "pncp", str(SAMPLE_DIR), "--rejects", str(rejects))
    assert "contratacoes: read 500, loaded 500, rejected 0" in first
    assert "procurements: 500 new, 0 updated, 0 unchanged" in first
    second = invoke(database_url, "import", "pncp", str(SAMPLE_DIR), "--rejects", str(rejects))
    assert "procurements: 0 new, 0 updated, 500 unchanged" in second
    assert not rejects.exists()


def test_seed_refuses_to_mix_and_resets_on_request(database_url: str) -> None:
    out = invoke(database_url, "db", "seed", "--contracts", "500", "--seed", "3")
    assert "contracts: 500" in out
    again = CliRunner().invoke(
        main, ["db", "seed", "--contracts", "500"], env={"DATABASE_URL": database_url}
    )
    assert again.exit_code == 1
    assert "use --reset" in again.output
    assert "contracts: 800" in invoke(database_url, "db", "seed", "--contracts", "800", "--reset")


def test_apikey_create_and_revoke(database_url: str) -> None:
    result = CliRunner().invoke(
        main,
        ["apikey", "create", "--user", "ana", "--scope", "read"],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 0
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("cgk_")
    key_id = result.stderr.split("key id ")[1].split()[0]
    assert f"revoked key {key_id}" in invoke(database_url, "apikey", "revoke", key_id)
    again = CliRunner().invoke(
        main, ["apikey", "revoke", key_id], env={"DATABASE_URL": database_url}
    )
    assert again.exit_code == 1 and "no live key" in again.output


def test_bad_setting_is_named() -> None:
    result = CliRunner().invoke(main, ["db", "migrate"], env={"DB_POOL_SIZE": "lots"})
    assert result.exit_code == 1
    assert "DB_POOL_SIZE" in result.output


def test_export_schema_prints_the_committed_sdl() -> None:
    result = CliRunner().invoke(main, ["export-schema"])
    assert result.exit_code == 0
    assert result.output == (ROOT / "schema.graphql").read_text(encoding="utf-8")


def test_session_revoke_names_how_many_sessions_ended(database_url: str) -> None:
    """With sessions it ends them (tests/test_sessions.py); with none it says so."""
    assert "ended 0 session(s) of nobody" in invoke(
        database_url, "session", "revoke", "--user", "nobody"
    )
