"""The command line, run as a user runs it: in-process through click, and as its own
process where the exit status is what a batch script goes by."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cidadao_gql.cli import main
from tests.conftest import ROOT, SAMPLE_DIR, DatabaseFactory, run_cli
from tests.damaged_exports import (
    latin1_safe,
    not_text,
    reencode,
    table_contents,
    truncated,
    without_column,
)


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


@pytest.mark.parametrize(
    ("damage", "status", "message"),
    [
        (
            lambda d: without_column(d, "contratacoes.csv", "data.numeroControlePNCP"),
            2,
            "contratacoes.csv lacks the required column(s) data.numeroControlePNCP (its header"
            " has 58 columns delimited by ','); nothing was imported",
        ),
        (lambda d: d / "nowhere", 2, "missing PNCP files: "),
        (
            lambda d: truncated(d, "contratacoes.csv", 30_000),
            3,
            "too many rejected rows: contratacoes 1 of ",
        ),
        (lambda d: not_text(d, "gzip"), 4, "resultados.csv is gzip-compressed, not CSV text"),
        (lambda d: not_text(d, "random"), 4, "resultados.csv is not text (byte 0x"),
        (
            lambda d: reencode(d, "cp1252"),
            4,
            "is not utf-8 (invalid continuation byte); name the file's encoding with --encoding",
        ),
    ],
    ids=["missing-column", "missing-files", "too-many-rejects", "gzip", "random-bytes",
         "wrong-encoding"],
)  # fmt: skip
async def test_a_failed_import_exits_with_its_status_and_one_line_and_writes_nothing(
    database_url: str,
    tmp_path: Path,
    damage: Callable[[Path], Path],
    status: int,
    message: str,
) -> None:
    directory = damage(tmp_path / "pncp")
    extra = ["--encoding", "utf-8"] if status == 4 and "utf-8" in message else []
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory), *extra)

    assert code == status, err
    [line] = err.splitlines()
    assert line.startswith("Error: ") and message in line
    assert all(rows == [] for rows in (await table_contents(database_url)).values())
    # Rejected rows are written when they are the reason; otherwise there are none.
    assert (tmp_path / "pncp.rejects.csv").exists() == (status == 3)


async def test_latin1_files_load_and_say_how_they_were_read(
    database_url: str, tmp_path: Path
) -> None:
    directory = reencode(tmp_path / "pncp", "latin-1", latin1_safe)
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == [
        "contratacoes.csv: windows-1252 (detected), delimiter ','",
        "itens_medicamentos.csv: windows-1252 (detected), delimiter ','",
        "resultados.csv: windows-1252 (detected), delimiter ','",
        "contratacoes: read 500, loaded 500, rejected 0",
    ]
    code, out, _ = await run_cli(
        database_url, tmp_path, "import", "pncp", str(directory), "--encoding", "latin-1"
    )
    assert code == 0
    assert "contratacoes.csv: latin-1 (as given), delimiter ','" in out
    assert "procurements: 0 new, 0 updated, 500 unchanged" in out


async def test_a_dry_run_reports_what_the_real_run_does_and_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    """Cut short, the file loads its complete rows once the limit allows the rejects."""
    directory = str(truncated(tmp_path / "pncp", "contratacoes.csv", 30_000))
    code, dry, _ = await run_cli(
        database_url, tmp_path, "import", "pncp", directory, "--dry-run", "--max-rejects", "100%"
    )
    assert code == 0
    assert all(rows == [] for rows in (await table_contents(database_url)).values())
    assert not (tmp_path / "pncp.rejects.csv").exists()
    code, real, _ = await run_cli(
        database_url, tmp_path, "import", "pncp", directory, "--max-rejects", "100%"
    )
    assert code == 0

    *dry_lines, rejected, dry_note = dry.splitlines()
    *real_lines, written = real.splitlines()
    assert dry_lines == real_lines
    assert dry_note == "dry run: nothing was written to the database"
    assert rejected.endswith(" row(s) would be rejected; --rejects FILE lists them")
    assert written.endswith(" rejected row(s) written to pncp.rejects.csv")
    loaded = int(real_lines[3].split("loaded ")[1].split(",")[0])
    assert real_lines[3] == f"contratacoes: read {loaded + 1}, loaded {loaded}, rejected 1"
    assert len((await table_contents(database_url))["procurements"]) == loaded
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        cut = [r for r in csv.DictReader(fh) if r["source"] == "contratacoes"]
    assert [r["record"] for r in cut] == [str(loaded + 1)]
    assert cut[0]["reason"].endswith("(the file ends inside this record: is it truncated?)")
