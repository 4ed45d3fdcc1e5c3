"""Counts of a parent's children kept by the database (migration 0017): equal to count(*)
after every kind of write, and read by both executors for unfiltered counts only."""

from __future__ import annotations

from typing import Any

import asyncpg

from cidadao_gql.data.db import open_database
from cidadao_gql.data.kept_counts import KEPT
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.ingestion.importer import import_directory
from cidadao_gql.ingestion.report import Rejects
from cidadao_gql.schema import agencies, procurements, suppliers
from cidadao_gql.schema.relay import ChildPage, encode_id
from cidadao_gql.settings import Settings
from tests.conftest import SAMPLE_DIR, DatabaseFactory, Run, connect, seed_synthetic


async def wrong_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Parents whose kept count differs from count(*) of their children, by count."""
    found = {}
    for (child, column), (parent, counted) in KEPT.items():
        found[f"{parent}.{counted}"] = await conn.fetchval(
            f"SELECT count(*) FROM {parent} p LEFT JOIN (SELECT {column} AS id, count(*) AS n"
            f" FROM {child} GROUP BY 1) c ON c.id = p.id WHERE p.{counted} <> coalesce(c.n, 0)"
        )
    return {name: n for name, n in found.items() if n}


async def filled(make_database: DatabaseFactory) -> str:
    url = await make_database()
    async with connect(url) as conn:
        await seed_synthetic(conn, 500, 1)
        await import_directory(conn, SAMPLE_DIR, Rejects())
    return url


def test_every_connection_of_children_has_a_kept_count() -> None:
    pages = [
        v
        for module in (agencies, suppliers, procurements)
        for v in vars(module).values()
        if isinstance(v, ChildPage) and v.parent_column is not None
    ]
    assert {(p.entity.table, p.parent_column) for p in pages} == set(KEPT)


async def test_kept_counts_follow_every_write(make_database: DatabaseFactory) -> None:
    """A seed's COPY, a second seed on top, the importer twice (upserts), then rows
    inserted, updated, moved to another parent, deleted, and the tables truncated."""
    url = await filled(make_database)
    async with connect(url) as conn:
        assert await wrong_counts(conn) == {}
        await seed_synthetic(conn, 500, 2)
        await import_directory(conn, SAMPLE_DIR, Rejects())
        assert await wrong_counts(conn) == {}
        assert await conn.fetchval("SELECT count(*) FROM items WHERE award_count > 0") > 1
        await conn.execute(
            """INSERT INTO contracts (agency_id, supplier_id, procurement_id, number, object,
                   modality, initial_value, final_value, signed_on)
               SELECT agency_id, supplier_id, procurement_id, number || '-b', object, modality,
                      initial_value, final_value, signed_on FROM contracts WHERE id % 7 = 0"""
        )
        await conn.execute("UPDATE contracts SET final_value = final_value + 1 WHERE id % 5 = 0")
        for table, column, parent, also in (
            ("contracts", "supplier_id", "suppliers", ""),
            ("contracts", "agency_id", "agencies", ""),
            ("procurements", "agency_id", "agencies", ""),
            ("items", "procurement_id", "procurements", ", number = 100000 + id"),  # unique
            ("awards", "item_id", "items", ", sequence = 100000 + id"),
            ("awards", "supplier_id", "suppliers", ""),
        ):
            await conn.execute(
                f"UPDATE {table} SET {column} = (SELECT min(id) FROM {parent}){also}"
                " WHERE id % 11 = 0"
            )
        await conn.execute("UPDATE contracts SET procurement_id = NULL WHERE id % 3 = 0")
        await conn.execute("DELETE FROM contracts WHERE id % 13 = 0")
        await conn.execute("DELETE FROM awards WHERE id % 13 = 0")
        assert await wrong_counts(conn) == {}
        await conn.execute("TRUNCATE contracts, awards")
        assert await wrong_counts(conn) == {}
        await conn.execute("TRUNCATE items, procurements CASCADE")
        assert await wrong_counts(conn) == {}
        assert await conn.fetchval("SELECT sum(procurement_count) FROM agencies") == 0


async def test_kept_counts_do_not_mark_derived_data_stale(make_database: DatabaseFactory) -> None:
    """The parents' kept columns are no input of spending's cells or the price references
    (migration 0020): a procurement written (agencies.procurement_count) or an award's item
    moved (items.award_count) leaves their marks down; writes to what they read raise
    them. A database migrated and seeded starts with every mark down."""
    url = await filled(make_database)
    async with connect(url) as conn:

        async def raised() -> set[str]:
            rows = await conn.fetch("SELECT name FROM derived_state WHERE stale")
            return {row["name"] for row in rows}

        assert await raised() == set()
        await conn.execute(
            "INSERT INTO procurements (pncp_control_number, agency_id, year, sequence,"
            " modality, object, published_at, metadata, uf)"
            " SELECT pncp_control_number || '-b', agency_id, year, sequence + 1000000,"
            " modality, object, published_at, metadata, uf FROM procurements WHERE id % 5 = 0"
        )
        await conn.execute("UPDATE items SET award_count = award_count WHERE id % 3 = 0")
        assert await raised() == set()
        await conn.execute("UPDATE agencies SET sphere = sphere WHERE id % 2 = 0")
        await conn.execute("UPDATE items SET unit = unit WHERE id % 2 = 0")
        assert await raised() == {"spending_cells", "price_references"}


COUNTS = """query($id: ID!, $uf: UF) {
  node(id: $id) { ... on Agency { contracts(first: 2) { totalCount }
                                  procurements(first: 2) { totalCount } } }
  contracts(first: 2, filter: {agency: $id}) { totalCount }
  filtered: contracts(first: 2, filter: {agency: $id, uf: $uf}) { totalCount } }"""


async def test_both_paths_read_kept_counts_and_filtered_counts_count(
    make_database: DatabaseFactory,
) -> None:
    """A kept count set wrong on purpose is what an unfiltered count answers, on the compiled
    path and on the ordinary one (Run compares their bytes); a filtered count counts."""
    url = await filled(make_database)
    settings = Settings(database_url=url)
    async with connect(url) as conn:
        row = await conn.fetchrow(
            "SELECT a.id, a.uf, a.contract_count FROM agencies a ORDER BY contract_count DESC"
            " LIMIT 1"
        )
        assert row is not None
        agency, uf, contracts = row
        procurements = await conn.fetchval(
            "SELECT count(*) FROM procurements WHERE agency_id = $1", agency
        )
        assert contracts > 2
        await conn.execute(
            "UPDATE agencies SET contract_count = contract_count + 1000,"
            " procurement_count = procurement_count + 1000 WHERE id = $1",
            agency,
        )
        in_uf = await conn.fetchval(
            "SELECT count(*) FROM contracts WHERE agency_id = $1 AND uf = $2", agency, uf
        )
    async with open_database(settings) as db:
        run = Run(build_schema(settings), db, settings)
        data: Any = await run.data(COUNTS, id=encode_id("Agency", agency), uf=uf)
    assert data["node"]["contracts"]["totalCount"] == contracts + 1000
    assert data["node"]["procurements"]["totalCount"] == procurements + 1000
    assert data["contracts"]["totalCount"] == contracts + 1000
    assert data["filtered"]["totalCount"] == in_uf
