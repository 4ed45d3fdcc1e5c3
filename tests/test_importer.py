"""Importing the real PNCP sample files, as they are."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from cidadao_gql.errors import BadImportFile, RowRejected, TooManyRejects
from cidadao_gql.ingestion.importer import (
    REQUIRED_COLUMNS,
    import_directory,
    import_exports,
    open_directory,
)
from cidadao_gql.ingestion.pncp import Row, map_award, map_item, map_procurement
from cidadao_gql.ingestion.report import ImportReport, RejectLimit, Rejects, SourceCount
from tests.conftest import SAMPLE_DIR, DatabaseFactory, connect
from tests.damaged_exports import (
    latin1_safe,
    redelimit,
    reencode,
    table_contents,
    truncated,
    without_column,
)


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


async def _import(url: str, directory: Path) -> tuple[ImportReport, Rejects]:
    rejects = Rejects()
    async with connect(url) as conn:
        report = await import_directory(conn, directory, rejects)
    return report, rejects


async def test_real_files_load_whole(make_database: DatabaseFactory) -> None:
    url = await make_database()
    report, rejects = await _import(url, SAMPLE_DIR)

    procurements = _csv_rows("contratacoes.csv")
    results = _csv_rows("resultados.csv")
    assert (len(procurements), len(_csv_rows("itens_medicamentos.csv")), len(results)) == (
        500,
        203,
        81,
    )
    assert rejects.rows == []
    assert [(c.read, c.loaded, c.rejected) for c in report.sources.values()] == [
        (500, 500, 0),
        (203, 203, 0),
        (81, 81, 0),
    ]
    async with connect(url) as conn:
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM procurements) AS procurements,
                      (SELECT count(*) FROM items) AS items,
                      (SELECT count(*) FROM awards) AS awards,
                      (SELECT count(*) FROM agencies) AS agencies,
                      (SELECT count(*) FROM suppliers) AS suppliers"""
        )
        linked = await conn.fetchval(
            """SELECT count(*) FROM awards a JOIN items i ON i.id = a.item_id
                 JOIN procurements p ON p.id = i.procurement_id"""
        )
    assert counts is not None
    assert dict(counts) == {
        "procurements": 500,
        "items": 203,
        "awards": 81,
        "agencies": len({r["data.orgaoEntidade.cnpj"] for r in procurements}),
        "suppliers": len({r["niFornecedor"] for r in results}),
    }
    assert dict(counts)["agencies"] == 292 and dict(counts)["suppliers"] == 47
    assert linked == 81


async def test_values_are_read_as_written(make_database: DatabaseFactory) -> None:
    url = await make_database()
    await _import(url, SAMPLE_DIR)
    async with connect(url) as conn:
        scientific = await conn.fetchval(
            "SELECT count(*) FROM awards WHERE quantity = 100000"
        )  # "1e+05" in the file
        estimated = await conn.fetchval(
            "SELECT estimated_total FROM procurements WHERE pncp_control_number = $1",
            next(
                r["data.numeroControlePNCP"]
                for r in _csv_rows("contratacoes.csv")
                if r["data.valorTotalEstimado"] == "1e+05"
            ),
        )
        srp = await conn.fetchval(
            "SELECT srp FROM procurements WHERE pncp_control_number = '06140404000167-1-000067/2024'"
        )
        junk = await conn.fetchval(
            "SELECT count(*) FROM procurements WHERE metadata::text LIKE '%ClobImpl%'"
            " OR metadata::text LIKE '%{justificativa%' OR object LIKE '%ClobImpl%'"
        )
        padded = await conn.fetchval(
            "SELECT count(*) FROM procurements WHERE object <> btrim(object) OR object LIKE '%  %'"
        )
        multiline = await conn.fetchval("SELECT count(*) FROM items WHERE description LIKE '%\n%'")
        cancelled = await conn.fetchval("SELECT count(*) FROM awards WHERE status = 'Cancelado'")
    assert scientific >= 1
    assert estimated == Decimal("100000.00")
    assert srp is True
    assert junk == 0
    assert padded == 0
    assert multiline == 0  # line breaks inside quoted fields are collapsed to spaces
    assert cancelled == 1


async def test_reimport_changes_nothing(make_database: DatabaseFactory) -> None:
    url = await make_database()
    await _import(url, SAMPLE_DIR)
    async with connect(url) as conn:
        before = await conn.fetch("SELECT * FROM procurements ORDER BY id")
    report, rejects = await _import(url, SAMPLE_DIR)
    async with connect(url) as conn:
        after = await conn.fetch("SELECT * FROM procurements ORDER BY id")
    assert rejects.rows == []
    assert all(t.inserted == 0 and t.updated == 0 for t in report.tables.values())
    assert report.tables["procurements"].unchanged == 500
    assert before == after


def _tamper(directory: Path) -> None:
    """Copy of the sample with known defects, one per kind of reject."""
    shutil.copytree(SAMPLE_DIR, directory, dirs_exist_ok=True)
    rows = _csv_rows("contratacoes.csv")
    fields = list(rows[0])
    rows[0]["data.orgaoEntidade.cnpj"] = "06140404000168"  # wrong check digit
    rows[1]["data.objetoCompra"] = " "  # blank placeholder where a value is required
    rows[2]["data.valorTotalEstimado"] = "doze mil"  # not a number
    rows[3]["data.numeroControlePNCP"] = "06140404000167-1-000999/2024"  # disagrees with its fields
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=fields, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    text = out.getvalue() + '"only","three","fields"\r\n'
    (directory / "contratacoes.csv").write_text(text, encoding="utf-8", newline="")

    results = _csv_rows("resultados.csv")
    results[0]["niFornecedor"] = "00656468000138"
    out = io.StringIO(newline="")
    writer = csv.DictWriter(
        out, fieldnames=list(results[0]), quoting=csv.QUOTE_ALL, lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows(results)
    (directory / "resultados.csv").write_text(out.getvalue(), encoding="utf-8", newline="")


async def test_unusable_rows_are_rejected_with_reasons(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    _tamper(tmp_path)
    url = await make_database()
    report, rejects = await _import(url, tmp_path)

    reasons = {(r.source, r.record): r.reason for r in rejects.rows}
    assert (
        reasons[("contratacoes", 1)]
        == "data.orgaoEntidade.cnpj: invalid CNPJ check digits (06140404000168)"
    )
    assert reasons[("contratacoes", 2)] == "data.objetoCompra: missing"
    assert (
        reasons[("contratacoes", 3)] == "data.valorTotalEstimado: expected a number, got 'doze mil'"
    )
    assert reasons[("contratacoes", 4)].startswith(
        "data.numeroControlePNCP: '06140404000167-1-000999/2024'"
    )
    assert reasons[("contratacoes", 501)] == "expected 59 fields, got 3"
    assert reasons[("resultados", 1)] == "niFornecedor: invalid CNPJ check digits (00656468000138)"
    # Items and results of the rejected procurements have nothing to hang on: rejected too.
    orphan_items = [r for r in rejects.rows if r.source == "itens"]
    assert all(r.reason.startswith("unknown procurement") for r in orphan_items)
    assert report.sources["contratacoes"].read == 501
    assert report.sources["contratacoes"].rejected == 5
    assert report.sources["resultados"].rejected == len(
        [r for r in rejects.rows if r.source == "resultados"]
    )
    async with connect(url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM procurements") == 496
        assert await conn.fetchval("SELECT count(*) FROM items") == 203 - len(orphan_items)

    out = io.StringIO()
    rejects.write(out)
    written = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(written) == len(rejects.rows)
    assert set(written[0]) == {"source", "record", "reason", "row"}


@pytest.mark.parametrize(
    ("variant", "baseline"),
    [
        (lambda d: reencode(d, "cp1252"), lambda d: SAMPLE_DIR),
        (
            lambda d: reencode(d, "latin-1", latin1_safe),
            lambda d: reencode(d, "utf-8", latin1_safe),
        ),
        (lambda d: redelimit(d, ";"), lambda d: SAMPLE_DIR),
    ],
    ids=["windows-1252", "latin-1", "semicolons"],
)
async def test_reencoded_and_redelimited_files_load_the_same_rows(
    make_database: DatabaseFactory,
    tmp_path: Path,
    variant: Callable[[Path], Path],
    baseline: Callable[[Path], Path],
) -> None:
    expected_url, damaged_url = await make_database(), await make_database()
    _, expected_rejects = await _import(expected_url, baseline(tmp_path / "baseline"))
    _, rejects = await _import(damaged_url, variant(tmp_path / "damaged"))

    assert rejects.rows == expected_rejects.rows == []
    expected = await table_contents(expected_url)
    assert len(expected["procurements"]) == 500 and len(expected["awards"]) == 81
    assert await table_contents(damaged_url) == expected


async def test_a_missing_column_writes_nothing(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    url = await make_database()
    directory = without_column(tmp_path, "itens_medicamentos.csv", "numeroItem")
    rejects = Rejects()
    with pytest.raises(BadImportFile, match=r"itens_medicamentos.csv lacks .* numeroItem "):
        async with connect(url) as conn:
            await import_directory(conn, directory, rejects)
    assert rejects.rows == []
    assert all(rows == [] for rows in (await table_contents(url)).values())


async def test_a_truncated_file_loads_its_complete_rows(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    url = await make_database()
    directory = truncated(tmp_path, "contratacoes.csv", 30_000)
    rejects = Rejects()
    async with connect(url) as conn:
        report = await import_directory(conn, directory, rejects)

    count = report.sources["contratacoes"]
    assert count.rejected == 1 and count.loaded == count.read - 1 > 20
    cut = [r for r in rejects.rows if r.source == "contratacoes"]
    assert [r.record for r in cut] == [count.read]
    assert cut[0].reason.endswith("(the file ends inside this record: is it truncated?)")
    complete = [r["data.numeroControlePNCP"] for r in _csv_rows("contratacoes.csv")][: count.loaded]
    async with connect(url) as conn:
        loaded = await conn.fetchval(
            "SELECT array_agg(pncp_control_number ORDER BY id) FROM procurements"
        )
    assert loaded == complete


async def test_more_rejects_than_the_limit_change_nothing(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    url = await make_database()
    await _import(url, SAMPLE_DIR)
    before = await table_contents(url)
    _tamper(tmp_path)
    # And one valid change, which the failed import must not make either.
    text = (tmp_path / "itens_medicamentos.csv").read_text(encoding="utf-8")
    assert "Acetazolamida" in text
    (tmp_path / "itens_medicamentos.csv").write_text(
        text.replace("Acetazolamida", "Acetazolamida 250 mg", 1), encoding="utf-8", newline=""
    )

    rejects = Rejects()
    with pytest.raises(TooManyRejects) as caught:
        async with connect(url) as conn:
            await import_directory(conn, tmp_path, rejects, max_rejects=RejectLimit.parse("0.5%"))
    assert str(caught.value).startswith("too many rejected rows: contratacoes 5 of 501 (1.0%)")
    assert str(caught.value).endswith("over the limit of 0.5% per file; nothing was imported")
    assert rejects.rows  # still there to be written out: they explain the failure
    assert await table_contents(url) == before

    async with connect(url) as conn:
        report = await import_directory(conn, tmp_path, Rejects(), max_rejects=RejectLimit())
    assert report.tables["items"].updated == 1
    assert await table_contents(url) != before


async def test_a_dry_run_reports_what_a_real_run_does_and_writes_nothing(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    _tamper(tmp_path)
    url = await make_database()
    dry_rejects, real_rejects = Rejects(), Rejects()
    async with connect(url) as conn:
        dry = await import_directory(conn, tmp_path, dry_rejects, dry_run=True)
        assert await conn.fetchval("SELECT count(*) FROM price_references") == 0
    assert all(rows == [] for rows in (await table_contents(url)).values())
    async with connect(url) as conn:
        real = await import_directory(conn, tmp_path, real_rejects)
        assert await conn.fetchval("SELECT count(*) FROM price_references") > 0

    assert dry.lines() == real.lines()
    assert real.tables["procurements"].inserted == 496
    assert dry_rejects.rows == real_rejects.rows != []


@pytest.mark.parametrize(
    ("text", "limit", "allowed", "refused"),
    [("1%", RejectLimit(percent=Decimal(1)), (5, 500), (6, 500)),
     ("0.5 %", RejectLimit(percent=Decimal("0.5")), (1, 200), (2, 200)),
     ("3", RejectLimit(rows=3), (3, 4), (4, 1000)),
     ("0", RejectLimit(rows=0), (0, 10), (1, 1000))],
)  # fmt: skip
def test_reject_limits(
    text: str, limit: RejectLimit, allowed: tuple[int, int], refused: tuple[int, int]
) -> None:
    assert RejectLimit.parse(text) == limit
    assert limit.allows(SourceCount(read=allowed[1], rejected=allowed[0]))
    assert not limit.allows(SourceCount(read=refused[1], rejected=refused[0]))
    assert RejectLimit().allows(SourceCount(read=1, rejected=1))


@pytest.mark.parametrize("text", ["x", "-1", "101%", "nan%", "1.5", ""])
def test_reject_limits_refuse_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="a number of rows"):
        RejectLimit.parse(text)


@pytest.mark.parametrize(
    ("source", "name", "map_row"),
    [
        ("contratacoes", "contratacoes.csv", map_procurement),
        ("itens", "itens_medicamentos.csv", map_item),
        ("resultados", "resultados.csv", map_award),
    ],
)
def test_required_columns_are_those_no_row_maps_without(
    source: str, name: str, map_row: Callable[[Row], object]
) -> None:
    """Each required column makes a good row unusable when taken away; so refusing a file
    that lacks one loses nothing that could have loaded."""
    row = _csv_rows(name)[0]
    map_row(row)
    for column in REQUIRED_COLUMNS[source]:
        with pytest.raises(RowRejected):
            map_row({k: v for k, v in row.items() if k != column})


async def test_what_fails_before_the_commit_rolls_the_load_back(
    make_database: DatabaseFactory,
) -> None:
    """The CLI writes the rejects file there: a file it cannot write loads nothing."""
    url = await make_database()

    def cannot_write() -> None:
        raise PermissionError(13, "Permission denied", "r.csv")

    async with connect(url) as conn:
        with pytest.raises(PermissionError):
            await import_exports(
                conn, open_directory(SAMPLE_DIR), Rejects(), before_commit=cannot_write
            )
    assert all(rows == [] for rows in (await table_contents(url)).values())
