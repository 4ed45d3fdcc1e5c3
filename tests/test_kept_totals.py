"""A supplier's totals read from what the database keeps (migrations 0012 and 0017, the
signing days from contracts_supplier_signed_idx): equal to a GROUP BY over its contracts
after every kind of write, in one statement that reads a few rows per supplier."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from cidadao_gql.data import sql
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.ingestion.importer import import_directory
from cidadao_gql.ingestion.report import Rejects
from cidadao_gql.settings import Settings
from tests.conftest import SAMPLE_DIR, DatabaseFactory, connect, seed_synthetic
from tests.filter_plans import Recording, rows_read

TRUTH = """SELECT s.id, count(c.id) AS contract_count, sum(c.final_value) AS total_value,
                  min(c.signed_on) AS first_signed_on, max(c.signed_on) AS last_signed_on
             FROM suppliers s LEFT JOIN contracts c ON c.supplier_id = s.id
            GROUP BY 1 ORDER BY 1"""
COLUMNS = ("contract_count", "total_value", "first_signed_on", "last_signed_on")


async def wrong_totals(db: Database) -> list[Any]:
    """Suppliers whose totals differ from their contracts' GROUP BY (the aggregate's own
    row, value and scale; None for a supplier without contracts), and how many there are."""
    truth = await db.fetch(TRUTH)
    recording = Recording(db)
    got = await sql.fetch_supplier_totals(recording, [r["id"] for r in truth])
    assert len(recording.sent) == 1
    wrong = []
    for want, row in zip(truth, got, strict=True):
        expected = None if want["contract_count"] == 0 else tuple(want[c] for c in COLUMNS)
        found = None if row is None else tuple(row[c] for c in COLUMNS)
        if found != expected or (found and str(found[1]) != str(want["total_value"])):
            wrong.append((want["id"], expected, found))
    return wrong


async def test_supplier_totals_follow_every_write(make_database: DatabaseFactory) -> None:
    """A seed's COPY, a second seed and the importer's upserts, then contracts inserted,
    moved to another supplier, re-valued, re-dated and deleted by hand, and the table
    truncated: the totals read are the totals summed, supplier by supplier."""
    url = await make_database()
    async with connect(url) as conn:
        await seed_synthetic(conn, 500, 1)
        await seed_synthetic(conn, 300, 2)
        await import_directory(conn, SAMPLE_DIR, Rejects())
    async with open_database(replace(Settings(), database_url=url)) as db:
        assert await db.fetchval("SELECT count(*) FROM suppliers WHERE contract_count = 0") > 0
        assert await wrong_totals(db) == []
        for write in (
            """INSERT INTO contracts (agency_id, supplier_id, number, object, modality,
                   initial_value, final_value, signed_on)
               SELECT agency_id, supplier_id, number || '-b', object, modality, initial_value,
                      final_value * 2, signed_on - 400 FROM contracts WHERE id % 7 = 0""",
            "UPDATE contracts SET final_value = final_value + 0.01 WHERE id % 5 = 0",
            "UPDATE contracts SET signed_on = signed_on + 900 WHERE id % 9 = 0",
            "UPDATE contracts SET supplier_id = (SELECT min(id) FROM suppliers) WHERE id % 11 = 0",
            "DELETE FROM contracts WHERE id % 13 = 0 OR id % 17 = 0",
        ):
            await db.execute(write)
            assert await wrong_totals(db) == [], write
        await db.execute("TRUNCATE contracts")
        assert await wrong_totals(db) == []
        assert await db.fetchval("SELECT count(*) FROM suppliers WHERE contract_count <> 0") == 0


async def test_the_largest_suppliers_totals_read_their_rows_not_their_contracts(
    make_database: DatabaseFactory,
) -> None:
    """The supplier_profile shape's ten largest suppliers: their contracts aggregated read
    every one of them; their totals read the suppliers (by id, or all of them on a table
    this small) and two index entries of contracts each, however many contracts."""
    url = await make_database()
    async with connect(url) as conn:
        await seed_synthetic(conn, 2000, 3)
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM suppliers ORDER BY contracted_total DESC, id DESC LIMIT 10"
            )
        ]
        contracts = await conn.fetchval(
            "SELECT count(*) FROM contracts WHERE supplier_id = any($1::bigint[])", ids
        )
        assert contracts > 200
        async with open_database(replace(Settings(), database_url=url)) as db:
            recording = Recording(db)
            await sql.fetch_supplier_totals(recording, ids)
        ((statement, args),) = recording.sent
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *args, column=0)
        suppliers = await conn.fetchval("SELECT count(*) FROM suppliers")
        assert rows_read(orjson.loads(plan)[0]["Plan"]) <= suppliers + 2 * len(ids)
        assert scanned(orjson.loads(plan)[0]["Plan"], "contracts") == 2 * len(ids)


def scanned(node: dict[str, Any], table: str) -> int:
    """Rows a plan's scans of `table` (its indexes included) read, every loop."""
    own = rows_read({**node, "Plans": []}) if node.get("Relation Name") == table else 0
    return own + sum(scanned(child, table) for child in node.get("Plans", ()))
