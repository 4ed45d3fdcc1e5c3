"""Importing the real PNCP sample files, as they are."""

from __future__ import annotations

import csv
import io
import shutil
from decimal import Decimal
from pathlib import Path

from cidadao_gql.ingestion.importer import ImportReport, Rejects, import_directory
from tests.conftest import SAMPLE_DIR, DatabaseFactory, connect


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
