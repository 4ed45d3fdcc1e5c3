"""The command line, run as a user runs it: in-process through click, and as its own
process where the exit status is what a batch script goes by."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import os
import re
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cidadao_gql.cli import main
from cidadao_gql.errors import ExitStatus
from tests.conftest import ROOT, SAMPLE_DIR, DatabaseFactory, connect, run_cli
from tests.damaged_exports import (
    drop_columns,
    edit_records,
    latin1_safe,
    not_text,
    redelimit,
    reencode,
    sample_text,
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


def test_apikey_create_sets_the_keys_own_allowance(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    args = ["apikey", "create", "--user", "bulk", "--capacity", "20000", "--refill", "5000"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    key_id = int(result.stderr.split("key id ")[1].split()[0])
    half = CliRunner().invoke(main, ["apikey", "create", "--user", "b", "--capacity", "9"], env=env)
    assert half.exit_code == 2 and "--capacity and --refill go together" in half.output

    async def allowance() -> tuple[int, int]:
        async with connect(database_url) as conn:
            row = await conn.fetchrow(
                "SELECT rate_capacity, rate_refill FROM api_keys WHERE id = $1", key_id
            )
        assert row is not None
        return row["rate_capacity"], row["rate_refill"]

    assert asyncio.run(allowance()) == (20000, 5000)


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


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    [line] = err.splitlines()
    assert line.startswith("Error: ")
    return line


@pytest.mark.parametrize(
    ("encoding", "status", "says"),
    [("utf-16", ExitStatus.UNDECODABLE, "is not utf-16 (UTF-16 stream does not start with BOM);"
      " name the file's encoding with --encoding"),
     ("utf-16-le", ExitStatus.BAD_FILE, "cannot read the header as CSV (no line break in its"
      " first 65,536 characters); check its quoting, or, if it is not utf-16-le, name the"
      " file's encoding with --encoding"),
     ("utf-32", ExitStatus.UNDECODABLE, "is not utf-32 (code point not in range(0x110000))")],
)  # fmt: skip
async def test_a_wrong_encoding_given_is_one_line_with_a_stable_status(
    database_url: str, tmp_path: Path, encoding: str, status: int, says: str
) -> None:
    directory = str(reencode(tmp_path / "pncp", "utf-8"))
    code, _, err = await run_cli(
        database_url, tmp_path, "import", "pncp", directory, "--encoding", encoding
    )
    assert code == status
    assert says in _one_error_line(err)
    assert "contratacoes.csv" in err


@pytest.mark.parametrize("encoding", ["nope", "rot13", "base64"])
async def test_an_unknown_or_non_text_encoding_is_a_usage_error(
    database_url: str, tmp_path: Path, encoding: str
) -> None:
    code, _, err = await run_cli(
        database_url, tmp_path, "import", "pncp", str(SAMPLE_DIR), "--encoding", encoding
    )
    assert code == ExitStatus.BAD_FILE
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"Error: Invalid value for '--encoding': unknown text encoding {encoding!r}"
    )


@pytest.mark.parametrize(
    "command",
    [("db", "migrate"), ("import", "pncp", str(SAMPLE_DIR)), ("apikey", "revoke", "1"),
     ("session", "revoke", "--user", "ana"), ("db", "seed", "--contracts", "10"),
     ("documents", "register", str(ROOT / "tests")), ("serve", "--port", "0")],
    ids=lambda c: " ".join(c[:2]),
)  # fmt: skip
async def test_a_database_that_cannot_be_used_is_one_line_and_exit_1(
    database_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    base = database_url.rsplit("/", 1)[0]
    host = base.split("@")[1]
    for url, says in [
        (f"postgresql://root@127.0.0.1:1/{tmp_path.name}", "connecting failed: [Errno 111]"),
        (f"{base}/no_such_db_22", 'connecting failed: database "no_such_db_22" does not exist'),
        (f"postgresql://nobody_22:secret@{host}/postgres", 'role "nobody_22" does not exist'),
    ]:
        code, _, err = await run_cli(url, tmp_path, *command)
        assert code == ExitStatus.FAILED, err
        line = _one_error_line(err)
        assert line.startswith("Error: PostgreSQL at ") and says in line
        assert "secret" not in line


async def test_a_missing_result_sequence_column_is_refused_not_merged(
    database_url: str, tmp_path: Path
) -> None:
    directory = edit_records(
        tmp_path / "pncp", "resultados.csv", lambda r: drop_columns(r, {"sequencialResultado"})
    )
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == ExitStatus.BAD_FILE
    assert "resultados.csv lacks the required column(s) sequencialResultado" in (
        _one_error_line(err)
    )
    assert all(rows == [] for rows in (await table_contents(database_url)).values())


def _duplicates(records: list[list[str]]) -> list[list[str]]:
    """Result 1 written again for another supplier, and a row with an empty sequence."""
    header = records[0]
    sequence, supplier = header.index("sequencialResultado"), header.index("niFornecedor")
    again = list(records[1])
    again[supplier] = "60665981000975"
    blank = list(records[2])
    blank[sequence] = ""
    return [*records, again, blank]


async def test_rows_with_the_same_key_or_an_empty_one_are_rejected_with_reasons(
    database_url: str, tmp_path: Path
) -> None:
    directory = str(edit_records(tmp_path / "pncp", "resultados.csv", _duplicates))
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", directory)
    assert code == ExitStatus.TOO_MANY_REJECTS  # 2 of 83 is over the default 1 %
    assert "resultados 2 of 83" in _one_error_line(err)
    assert all(rows == [] for rows in (await table_contents(database_url)).values())

    code, out, _ = await run_cli(
        database_url, tmp_path, "import", "pncp", directory, "--max-rejects", "2"
    )
    assert code == 0
    assert "resultados: read 83, loaded 81, rejected 2" in out
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        reasons = {r["record"]: r["reason"] for r in csv.DictReader(fh)}
    assert reasons["82"] == (
        "duplicate of record 1: the same result 1 of item 1 of 14814139000183-1-000207/2024"
    )
    assert reasons["83"] == "sequencialResultado: missing"
    awards = (await table_contents(database_url))["awards"]
    assert len(awards) == 81  # the first row of the key loaded, the later one did not


OPTIONAL = {
    "contratacoes.csv": {"data.valorTotalHomologado", "data.unidadeOrgao.codigoIbge",
                         "data.processo", "data.modalidadeNome", "data.unidadeOrgao.ufSigla"},
    "itens_medicamentos.csv": {"unidadeMedida", "codigo_br", "catalogoCodigoItem"},
    "resultados.csv": {"porteFornecedorNome", "dataResultado", "valorUnitarioHomologado"},
}  # fmt: skip


async def test_a_file_without_an_optional_column_keeps_what_is_stored(
    database_url: str, tmp_path: Path
) -> None:
    """A missing column means unknown: the re-import changes nothing. An empty value in a
    column that is there means empty, and clears what is stored."""
    code, _, _ = await run_cli(database_url, tmp_path, "import", "pncp", str(SAMPLE_DIR))
    assert code == 0
    before = await table_contents(database_url)
    directory = tmp_path / "pncp"
    for name, columns in OPTIONAL.items():
        edit_records(directory, name, lambda r, c=columns: drop_columns(r, c))  # type: ignore[misc]
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert (code, err) == (0, "")
    assert "procurements: 0 new, 0 updated, 500 unchanged" in out
    assert "awards: 0 new, 0 updated, 81 unchanged" in out
    assert await table_contents(database_url) == before

    def blank_process(records: list[list[str]]) -> list[list[str]]:
        records[1][records[0].index("data.processo")] = ""
        return records

    edit_records(directory, "contratacoes.csv", blank_process)
    code, out, _ = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == 0 and "procurements: 0 new, 1 updated, 499 unchanged" in out
    after = await table_contents(database_url)
    assert after["procurements"][0]["process"] is None
    assert before["procurements"][0]["process"] is not None
    assert after["procurements"][1:] == before["procurements"][1:]


async def test_a_file_with_a_header_and_no_rows_fails_unless_allowed(
    database_url: str, tmp_path: Path
) -> None:
    directory = str(edit_records(tmp_path / "pncp", "itens_medicamentos.csv", lambda r: r[:1]))
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", directory)
    assert code == ExitStatus.BAD_FILE
    assert _one_error_line(err).endswith(
        "itens_medicamentos.csv has a header but no rows; nothing was imported"
        " (--allow-empty imports such files)"
    )
    assert all(rows == [] for rows in (await table_contents(database_url)).values())
    code, out, _ = await run_cli(
        database_url,
        tmp_path,
        "import",
        "pncp",
        directory,
        "--allow-empty",
        "--max-rejects",
        "100%",
    )
    assert code == 0
    assert "itens: read 0, loaded 0, rejected 0" in out
    assert "procurements: 500 new, 0 updated, 0 unchanged" in out


async def test_mixed_encodings_and_delimiters_in_one_directory_load_the_sample(
    database_url: str, make_database: DatabaseFactory, tmp_path: Path
) -> None:
    """Each file as another system would write it: Windows-1252; UTF-8 with a byte-order
    mark and `;`; ISO-8859-1 with bare LF line ends."""
    directory = tmp_path / "pncp"
    reencode(directory, "utf-8")
    (directory / "contratacoes.csv").write_bytes(sample_text("contratacoes.csv").encode("cp1252"))
    redelimit(tmp_path / "semicolons", ";")
    (directory / "itens_medicamentos.csv").write_bytes(
        codecs.BOM_UTF8 + (tmp_path / "semicolons" / "itens_medicamentos.csv").read_bytes()
    )
    results = sample_text("resultados.csv")
    assert "\r\n" in results
    (directory / "resultados.csv").write_bytes(results.replace("\r\n", "\n").encode("latin-1"))
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert (code, err) == (0, ""), err
    assert out.splitlines()[:3] == [
        "contratacoes.csv: windows-1252 (detected), delimiter ','",
        "itens_medicamentos.csv: utf-8-sig (detected), delimiter ';'",
        "resultados.csv: windows-1252 (detected), delimiter ','",
    ]
    expected_url = await make_database()
    assert (await run_cli(expected_url, tmp_path, "import", "pncp", str(SAMPLE_DIR)))[0] == 0
    assert await table_contents(database_url) == await table_contents(expected_url)


@pytest.mark.parametrize(
    ("damage", "status", "says"),
    [(lambda p: (p.unlink(), p.mkdir()), ExitStatus.BAD_FILE, "not regular files: "),
     (lambda p: p.write_bytes(b""), ExitStatus.BAD_FILE, "resultados.csv is empty"),
     (lambda p: p.write_bytes(p.read_bytes().replace(b'"PJ"', b'"' + b"x" * 200_000 + b'"', 1)),
      ExitStatus.BAD_FILE, "resultados.csv: cannot read record 1 as CSV (field larger than"),
     (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256))), ExitStatus.UNDECODABLE,
      "resultados.csv is not text (byte 0x00")],
    ids=["a-directory", "zero-bytes", "huge-field", "binary"],
)  # fmt: skip
async def test_other_damage_is_one_line_and_writes_nothing(
    database_url: str, tmp_path: Path, damage: Callable[[Path], object], status: int, says: str
) -> None:
    directory = reencode(tmp_path / "pncp", "utf-8")
    damage(directory / "resultados.csv")
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == status
    assert says in _one_error_line(err)
    assert all(rows == [] for rows in (await table_contents(database_url)).values())


def _hostile_values(records: list[list[str]]) -> list[list[str]]:
    header = records[0]
    records[1][header.index("data.unidadeOrgao.ufSigla")] = "SPX"
    records[2][header.index("data.anoCompra")] = "99999"
    records[3][header.index("data.valorTotalEstimado")] = "1e20"
    # In the first KiB: a stray NUL rejects its row; only a file full of them is not text.
    records[4][header.index("data.objetoCompra")] += "\x00"
    return records


async def _import_hostile_values(database_url: str, tmp_path: Path) -> None:
    """The sample with `_hostile_values` in it imports, its four bad rows rejected."""
    directory = str(edit_records(tmp_path / "pncp", "contratacoes.csv", _hostile_values))
    code, out, err = await run_cli(
        database_url, tmp_path, "import", "pncp", directory, "--max-rejects", "4"
    )
    assert code == 0, err
    assert "contratacoes: read 500, loaded 496, rejected 4" in out


async def test_values_the_tables_cannot_hold_are_rejected_not_fatal(
    database_url: str, tmp_path: Path
) -> None:
    await _import_hostile_values(database_url, tmp_path)
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        reasons = [r["reason"] for r in csv.DictReader(fh) if r["source"] == "contratacoes"]
    assert reasons == [
        "data.unidadeOrgao.ufSigla: expected a two-letter UF, got 'SPX'",
        "data.anoCompra: '99999' is out of range",
        "data.valorTotalEstimado: '1e20' is out of range (must be below 100,000,000,000,000)",
        "data.objetoCompra: contains a NUL character",
    ]


def test_the_readme_lists_every_exit_status_and_import_option() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    data = readme.split("\n## Data\n", 1)[1].split("\n## ", 1)[0]
    listed = [int(line.split("|")[1]) for line in data.splitlines() if line.startswith("  | ")
              and line.split("|")[1].strip().isdigit()]  # fmt: skip
    assert listed == [int(s) for s in ExitStatus]
    group = main.commands["import"]
    assert isinstance(group, click.Group)
    options = {opt for param in group.commands["pncp"].params for opt in param.opts}
    assert options - {"directory"} <= set(re.findall(r"`(--[a-z-]+)", data))


def _second_column(records: list[list[str]]) -> list[list[str]]:
    """A second data.valorTotalEstimado column, which would silently win."""
    return [[*r, "data.valorTotalEstimado" if i == 0 else "1"] for i, r in enumerate(records)]


def _renamed(old: str, new: str) -> Callable[[list[list[str]]], list[list[str]]]:
    return lambda records: [[new if n == old else n for n in records[0]], *records[1:]]


@pytest.mark.parametrize(
    ("name", "change", "says"),
    [("contratacoes.csv", _second_column,
      "contratacoes.csv names the column(s) data.valorTotalEstimado more than once"),
     ("resultados.csv", _renamed("numeroItem", "numeroitem"),
      "lacks the required column(s) numeroItem (the header has 'numeroitem': names match"),
     ("resultados.csv", _renamed("numeroItem", " numeroItem "),
      "lacks the required column(s) numeroItem (the header has ' numeroItem ': names match")],
    ids=["a-column-twice", "case", "spaces"],
)  # fmt: skip
async def test_a_header_that_names_a_column_twice_or_nearly_is_refused_and_says_so(
    database_url: str,
    tmp_path: Path,
    name: str,
    change: Callable[[list[list[str]]], list[list[str]]],
    says: str,
) -> None:
    directory = str(edit_records(tmp_path / "pncp", name, change))
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", directory)
    assert code == ExitStatus.BAD_FILE
    assert says in _one_error_line(err)
    assert all(rows == [] for rows in (await table_contents(database_url)).values())


@pytest.mark.parametrize("limit", ["100%", "0"], ids=["within-the-limit", "over-the-limit"])
async def test_a_rejects_file_that_cannot_be_written_is_refused_before_any_work(
    database_url: str, tmp_path: Path, limit: str
) -> None:
    directory = str(edit_records(tmp_path / "pncp", "contratacoes.csv", _hostile_values))
    rejects = tmp_path / "no-such-dir" / "r.csv"
    code, out, err = await run_cli(
        database_url, tmp_path, "import", "pncp", directory,
        "--rejects", str(rejects), "--max-rejects", limit,
    )  # fmt: skip
    assert code == ExitStatus.BAD_FILE
    assert f"cannot write the rejects file {rejects}: No such file or directory" in (
        _one_error_line(err)
    )
    assert out == ""  # refused before a file was opened
    assert all(rows == [] for rows in (await table_contents(database_url)).values())


def _impossible(
    column: str, record: int, value: str
) -> Callable[[list[list[str]]], list[list[str]]]:
    def change(records: list[list[str]]) -> list[list[str]]:
        records[record][records[0].index(column)] = value
        return records

    return change


@pytest.mark.parametrize(
    ("name", "column", "value", "reason"),
    [("contratacoes.csv", "data.valorTotalEstimado", "-1", "-1 is negative"),
     ("contratacoes.csv", "data.valorTotalHomologado", "-0.01", "-0.01 is negative"),
     ("contratacoes.csv", "data.modalidadeId", "-1", "unknown modality -1 (PNCP's are 1 to 13)"),
     ("contratacoes.csv", "data.modalidadeId", "14", "unknown modality 14"),
     ("contratacoes.csv", "data.dataInclusao", "2098-01-01T00:00:00", "is in the future"),
     ("contratacoes.csv", "data.dataPublicacaoPncp", "2099-01-01T00:00:00", "is in the future"),
     ("itens_medicamentos.csv", "quantidade", "-2", "-2 is negative"),
     ("itens_medicamentos.csv", "valorUnitarioEstimado", "-1.5", "-1.5 is negative"),
     ("itens_medicamentos.csv", "valorTotal", "-3", "-3 is negative"),
     ("resultados.csv", "quantidadeHomologada", "-1", "-1 is negative"),
     ("resultados.csv", "valorUnitarioHomologado", "-1", "-1 is negative"),
     ("resultados.csv", "valorTotalHomologado", "-1", "-1 is negative"),
     ("resultados.csv", "dataResultado", "2099-12-31", "2099-12-31 is in the future")],
)  # fmt: skip
async def test_impossible_values_reject_their_row_with_the_reason(
    database_url: str, tmp_path: Path, name: str, column: str, value: str, reason: str
) -> None:
    directory = str(edit_records(tmp_path / "pncp", name, _impossible(column, 5, value)))
    code, _, err = await run_cli(
        database_url, tmp_path, "import", "pncp", directory, "--max-rejects", "100%"
    )
    assert code == 0, err
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    source = {"contratacoes.csv": "contratacoes", "itens_medicamentos.csv": "itens"}.get(
        name, "resultados"
    )
    first = rejected[0]
    assert (first["source"], first["record"]) == (source, "5")
    assert first["reason"].startswith(f"{column}: ") and reason in first["reason"]


async def test_a_stray_nul_rejects_its_row_and_a_file_full_of_them_is_not_text(
    database_url: str, tmp_path: Path
) -> None:
    await _import_hostile_values(database_url, tmp_path)

    utf16 = tmp_path / "utf16"
    reencode(utf16, "utf-16-le")  # no byte-order mark: half its bytes are NUL
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", str(utf16))
    assert code == ExitStatus.UNDECODABLE
    assert "contratacoes.csv is not text (byte 0x00 at offset 1)" in _one_error_line(err)


def _cut_inside_a_quoted_field(directory: Path) -> Path:
    """contratacoes.csv ending inside the quoted object of its last record, right after a
    line break of it: every field is there, and the file ends with a line break."""
    reencode(directory, "utf-8")
    text = sample_text("contratacoes.csv")
    records = list(csv.reader(io.StringIO(text, newline="")))
    last = records[-1]
    column = records[0].index("data.objetoCompra")
    records[-1] = [*last[:column], "Aquisição de\nmedicamentos", *last[column + 1 :]]
    out = io.StringIO(newline="")
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(records)
    data = out.getvalue()
    cut = data.rindex("Aquisição de\n") + len("Aquisição de\n")
    (directory / "contratacoes.csv").write_bytes(data[:cut].encode("utf-8"))
    return directory


async def test_a_file_cut_inside_a_quoted_field_is_called_truncated(
    database_url: str, tmp_path: Path
) -> None:
    directory = _cut_inside_a_quoted_field(tmp_path / "pncp")
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == 0, err
    assert "contratacoes: read 500, loaded 499, rejected 1" in out
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        [rejected] = list(csv.DictReader(fh))
    assert rejected["record"] == "500"
    assert rejected["reason"].endswith("(the file ends inside this record: is it truncated?)")


async def test_tab_delimited_files_load_the_sample(database_url: str, tmp_path: Path) -> None:
    directory = redelimit(tmp_path / "pncp", "\t")
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == 0, err
    assert "contratacoes.csv: utf-8 (detected), delimiter '\\t'" in out
    assert "contratacoes: read 500, loaded 500, rejected 0" in out


async def test_a_byte_order_mark_read_as_latin1_is_pointed_at(
    database_url: str, tmp_path: Path
) -> None:
    directory = reencode(tmp_path / "pncp", "utf-8-sig")
    code, _, err = await run_cli(
        database_url, tmp_path, "import", "pncp", str(directory), "--encoding", "latin-1"
    )
    assert code == ExitStatus.UNDECODABLE
    assert "starts with a UTF-8 byte-order mark, so it is UTF-8, not latin-1" in (
        _one_error_line(err)
    )


async def test_import_on_a_new_database_says_it_migrates_it(
    database_url: str, tmp_path: Path
) -> None:
    async with connect(database_url) as conn:  # as new: no table, no migration applied
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(SAMPLE_DIR))
    assert code == 0, err
    [line] = [line for line in out.splitlines() if "migration" in line]
    assert re.fullmatch(r"applying \d+ migration\(s\) to the database first", line)
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(SAMPLE_DIR))
    assert code == 0 and "migration" not in out + err


def _many_procurements(records: list[list[str]]) -> list[list[str]]:
    """The sample's procurements 60 times over (30,000), each copy under new sequences: a
    load long enough to be interrupted."""
    header = records[0]
    key, sequence = header.index("data.numeroControlePNCP"), header.index("data.sequencialCompra")
    out = [header]
    for copy in range(60):
        for record in records[1:]:
            again = list(record)
            again[sequence] = str(int(record[sequence]) + 100_000 * (copy + 1))
            cnpj, _, year = record[key].split("-1-")[0], None, record[key][-4:]
            again[key] = f"{cnpj}-1-{int(again[sequence]):06d}/{year}"
            out.append(again)
    return out


async def test_ctrl_c_says_nothing_was_written_and_exits_130(
    database_url: str, tmp_path: Path
) -> None:
    directory = edit_records(tmp_path / "pncp", "contratacoes.csv", _many_procurements)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cidadao_gql.cli", "import", "pncp", str(directory),
        cwd=tmp_path, env={**env, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    # The first file line is printed once the files are checked, as the load begins.
    await asyncio.wait_for(process.stdout.readline(), timeout=60)
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    if process.returncode == 0:
        pytest.skip("the load finished before the signal arrived")
    assert process.returncode == ExitStatus.INTERRUPTED
    assert _one_error_line(err.decode()) == "Error: interrupted: nothing was written"
    assert all(rows == [] for rows in (await table_contents(database_url)).values())


@pytest.mark.parametrize(
    ("name", "column", "value", "reason"),
    [("contratacoes.csv", "data.dataPublicacaoPncp", "0001-01-01", "outside 1990-01-01 to"),
     ("contratacoes.csv", "data.dataAberturaProposta", "0001-01-01T00:00:00", "a placeholder"),
     ("contratacoes.csv", "data.dataEncerramentoProposta", "9999-12-31T23:59:59.999999",
      "outside 1990-01-01 to 2099-12-31"),
     ("contratacoes.csv", "data.dataEncerramentoProposta", "9999-12-31T23:59:59-03:00",
      "outside 1990-01-01 to 2099-12-31"),
     ("resultados.csv", "dataResultado", "20231231", "expected an ISO date-time"),
     ("contratacoes.csv", "data.dataPublicacaoPncp", "2023-W52-7", "expected an ISO date-time"),
     ("contratacoes.csv", "data.valorTotalEstimado", "1_000", "in ASCII digits, got '1_000'"),
     ("contratacoes.csv", "data.valorTotalEstimado", "٣٤", "in ASCII digits"),
     ("itens_medicamentos.csv", "quantidade", "１２３", "in ASCII digits")],
)  # fmt: skip
async def test_placeholder_dates_and_foreign_notations_reject_their_row(
    database_url: str, tmp_path: Path, name: str, column: str, value: str, reason: str
) -> None:
    """Neither -infinity nor infinity in a date column, nor a number read from digits no
    export writes; only the PNCP date formats."""
    await test_impossible_values_reject_their_row_with_the_reason(
        database_url, tmp_path, name, column, value, reason
    )


def _zoned(records: list[list[str]]) -> list[list[str]]:
    header = records[0]
    records[1][header.index("data.dataPublicacaoPncp")] = "2023-12-31T10:00:00-03:00"
    records[2][header.index("data.dataPublicacaoPncp")] = "2023-12-31T13:00:00Z"
    records[3][header.index("data.dataAberturaProposta")] = "2023-12-31T08:00:00-05:00"
    return records


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
async def test_date_times_with_a_zone_are_stored_as_brasilia_local_time(
    database_url: str, tmp_path: Path, dry_run: bool
) -> None:
    directory = str(edit_records(tmp_path / "pncp", "contratacoes.csv", _zoned))
    extra = ["--dry-run"] if dry_run else []
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", directory, *extra)
    assert code == 0, err
    assert "contratacoes: read 500, loaded 500, rejected 0" in out
    if dry_run:
        return
    records = list(csv.reader(io.StringIO(sample_text("contratacoes.csv"), newline="")))
    keys = [records[n][records[0].index("data.numeroControlePNCP")] for n in (1, 2, 3)]
    async with connect(database_url) as conn:
        rows = await conn.fetch(
            "SELECT published_at, opening_at FROM procurements"
            " WHERE pncp_control_number = any($1) ORDER BY array_position($1, pncp_control_number)",
            keys,
        )
    ten = datetime(2023, 12, 31, 10, 0)
    assert [rows[0]["published_at"], rows[1]["published_at"], rows[2]["opening_at"]] == [ten] * 3


def _one_latin1_byte(directory: Path) -> tuple[Path, str]:
    """The sample as UTF-8 but for one value of record 7 written in Latin-1 (`\\xe9`), as
    when a row is pasted from another system; returns the key of the damaged record."""
    reencode(directory, "utf-8")
    records = list(csv.reader(io.StringIO(sample_text("contratacoes.csv"), newline="")))
    header = records[0]
    records[7][header.index("data.objetoCompra")] += " M\x00DICO"
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(records)
    data = out.getvalue().encode("utf-8").replace(b"\x00", b"\xe9")
    (directory / "contratacoes.csv").write_bytes(data)
    return directory, records[7][header.index("data.numeroControlePNCP")]


async def test_one_byte_that_is_not_utf8_rejects_its_row_and_garbles_nothing(
    database_url: str, tmp_path: Path
) -> None:
    directory, damaged = _one_latin1_byte(tmp_path / "pncp")
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == 0, err
    assert "contratacoes.csv: utf-8 (detected; rows holding bytes that are not UTF-8" in out
    assert "contratacoes: read 500, loaded 499, rejected 1" in out
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        [rejected] = list(csv.DictReader(fh))
    assert (rejected["record"], rejected["reason"]) == (
        "7",
        "data.objetoCompra: byte 0xe9 is not UTF-8 (the rest of the file is):"
        " fix the value and import again",
    )
    async with connect(database_url) as conn:
        stored = await conn.fetch(
            "SELECT p.pncp_control_number, a.name FROM procurements p"
            " JOIN agencies a ON a.id = p.agency_id"
        )
    assert damaged not in {r["pncp_control_number"] for r in stored}
    assert not [r for r in stored if "Ã" in r["name"]]
    assert any(ch in "".join(r["name"] for r in stored) for ch in "ÁÉÍÓÚÇÃÊ")
    assert len(stored) == 499


async def test_a_file_neither_utf8_nor_windows_1252_names_the_first_bad_byte(
    database_url: str, tmp_path: Path
) -> None:
    directory = reencode(tmp_path / "pncp", "utf-8")
    data = (directory / "resultados.csv").read_bytes()
    header_end = data.index(b"\n") + 1
    # No well-formed UTF-8 character, and 0x81 is undefined in Windows-1252.
    body = data[header_end:].decode("utf-8").encode("latin-1", "replace")
    (directory / "resultados.csv").write_bytes(data[:header_end] + b"\xe7\x81" + body)
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == ExitStatus.UNDECODABLE
    assert (
        f"is neither UTF-8 (byte 0xe7 at offset {header_end}) nor Windows-1252"
        f" (byte 0x81 at offset {header_end + 1})"
    ) in _one_error_line(err)


def _renamed_file(directory: Path) -> None:
    (directory / "contratacoes.csv").rename(directory / "CONTRATACOES.CSV")


def _broken_link(directory: Path) -> None:
    (directory / "contratacoes.csv").unlink()
    (directory / "contratacoes.csv").symlink_to(directory / "gone.csv")


def _preamble(directory: Path) -> None:
    path = directory / "contratacoes.csv"
    path.write_bytes(b"Exportado do PNCP em 2025-01-02\r\n" + path.read_bytes())


@pytest.mark.parametrize(
    ("damage", "says"),
    [(_renamed_file, "contratacoes.csv (the directory has CONTRATACOES.CSV: names must match,"
      " case too)"),
     (_broken_link, "contratacoes.csv (a broken symbolic link to "),
     (_preamble, "nothing was imported; the first line is not the header (it has 1 column):"
      " remove preamble lines")],
    ids=["other-case", "broken-symlink", "preamble"],
)  # fmt: skip
async def test_a_misnamed_linked_or_prefaced_file_is_named_as_such(
    database_url: str, tmp_path: Path, damage: Callable[[Path], None], says: str
) -> None:
    directory = reencode(tmp_path / "pncp", "utf-8")
    damage(directory)
    code, _, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == ExitStatus.BAD_FILE
    assert says in _one_error_line(err)


def _header_again(records: list[list[str]]) -> list[list[str]]:
    return [*records[:10], records[0], *records[10:]]


async def test_a_repeated_header_line_and_extra_files_are_named(
    database_url: str, tmp_path: Path
) -> None:
    directory = edit_records(tmp_path / "pncp", "contratacoes.csv", _header_again)
    (directory / "resultados_2023.csv").write_bytes(b"a,b\r\n1,2\r\n")
    code, out, err = await run_cli(database_url, tmp_path, "import", "pncp", str(directory))
    assert code == 0, err
    assert "ignored, not PNCP files this import reads: resultados_2023.csv" in out
    assert "contratacoes: read 501, loaded 500, rejected 1" in out
    with (tmp_path / "pncp.rejects.csv").open(newline="", encoding="utf-8") as fh:
        [rejected] = list(csv.DictReader(fh))
    assert (rejected["record"], rejected["reason"]) == (
        "10",
        "a repeated header line (were files concatenated?)",
    )
