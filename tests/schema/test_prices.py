"""Root items and awards by catalog code, unit, procurement, agency, supplier and date, and
the unit-price summary: each checked against plain SQL on the seeded database."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from cidadao_gql.data.db import Database, open_database
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.ingestion.derived import ensure_current
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from tests.conftest import DatabaseFactory, Run

ITEMS = """query($filter: ItemFilter, $first: Int, $after: String) {
  items(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id catalogCode unit } } }"""
AWARDS = """query($filter: AwardFilter, $first: Int, $after: String) {
  awards(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id unitPrice } } }"""
UNIT_PRICES = """query($filter: UnitPriceFilter, $first: Int, $after: String) {
  unitPrices(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { catalogCode unit description awardCount minPrice p25 median p75 maxPrice } } }"""
# The summary as the question puts it, from the tables (not the migration's views); the
# quartiles interpolated by percentile_cont, to the unit price's 4 decimals.
SUMMARY_SQL = """
SELECT i.catalog_code, i.unit, count(*) AS n, min(a.unit_price) AS least,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY a.unit_price)::numeric(18, 4) AS p25,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.unit_price)::numeric(18, 4) AS median,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY a.unit_price)::numeric(18, 4) AS p75,
       max(a.unit_price) AS greatest,
       mode() WITHIN GROUP (ORDER BY i.description) AS description
  FROM awards a JOIN items i ON i.id = a.item_id
 WHERE i.catalog_code IS NOT NULL AND a.unit_price IS NOT NULL AND {where}
 GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST"""


async def walk(run: Run, query: str, field: str, first: int, **variables: Any) -> list[Any]:
    """Every node of every page, following endCursor; totalCount checked at the end."""
    nodes: list[Any] = []
    after = None
    while True:
        page = (await run.data(query, first=first, after=after, **variables))[field]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(nodes)
            return nodes
        after = page["pageInfo"]["endCursor"]


def summary(row: Any) -> dict[str, Any]:
    return {
        "catalogCode": row["catalog_code"], "unit": row["unit"],
        "description": row["description"], "awardCount": row["n"],
        "minPrice": str(row["least"]), "p25": str(row["p25"]), "median": str(row["median"]),
        "p75": str(row["p75"]), "maxPrice": str(row["greatest"]),
    }  # fmt: skip


async def busiest(db: Database) -> Any:
    """The catalog code and unit with the most awards, and an agency that bought it."""
    row = await db.fetchrow(
        """SELECT i.catalog_code, i.unit, count(*) AS n, min(p.agency_id) AS agency,
                  min(i.procurement_id) AS procurement
             FROM awards a JOIN items i ON i.id = a.item_id
             JOIN procurements p ON p.id = i.procurement_id
            WHERE i.catalog_code IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 1"""
    )
    assert row is not None and row["n"] > 20
    return row


async def test_every_unit_price_group_equals_percentile_cont_in_sql(run: Run, db: Database) -> None:
    rows = await db.fetch(SUMMARY_SQL.format(where="TRUE"))
    assert len(rows) > 10
    assert await walk(run, UNIT_PRICES, "unitPrices", 7) == [summary(r) for r in rows]


async def test_unit_prices_of_one_code_and_unit(run: Run, db: Database) -> None:
    top = await busiest(db)
    code, unit = top["catalog_code"], top["unit"]
    (row,) = await db.fetch(SUMMARY_SQL.format(where="i.catalog_code = $1 AND i.unit = $2"),
                            code, unit)  # fmt: skip
    both = await run.data(UNIT_PRICES, filter={"catalogCode": code, "unit": unit})
    assert both["unitPrices"]["nodes"] == [summary(row)]
    by_code = await db.fetch(SUMMARY_SQL.format(where="i.catalog_code = $1"), code)
    shown = await run.data(UNIT_PRICES, filter={"catalogCode": code})
    assert shown["unitPrices"]["nodes"] == [summary(r) for r in by_code]
    by_unit = await db.fetch(SUMMARY_SQL.format(where="i.unit = $1"), unit)
    assert await walk(run, UNIT_PRICES, "unitPrices", 3, filter={"unit": unit}) == [
        summary(r) for r in by_unit
    ]
    none = await run.data(UNIT_PRICES, filter={"catalogCode": "no such code"})
    assert none["unitPrices"] == {"totalCount": 0, "pageInfo": {"hasNextPage": False,
                                  "endCursor": None}, "nodes": []}  # fmt: skip


async def test_items_filters_equal_sql(run: Run, db: Database) -> None:
    top = await busiest(db)
    cases = [
        ({"catalogCode": top["catalog_code"]}, "i.catalog_code = $1", [top["catalog_code"]]),
        ({"catalogCode": top["catalog_code"], "unit": top["unit"]},
         "i.catalog_code = $1 AND i.unit = $2", [top["catalog_code"], top["unit"]]),
        ({"procurement": encode_id("Procurement", top["procurement"])},
         "i.procurement_id = $1", [top["procurement"]]),
        ({"agency": encode_id("Agency", top["agency"]), "unit": top["unit"]},
         "p.agency_id = $1 AND i.unit = $2", [top["agency"], top["unit"]]),
    ]  # fmt: skip
    for given, where, args in cases:
        rows = await db.fetch(
            f"""SELECT i.id FROM items i JOIN procurements p ON p.id = i.procurement_id
                 WHERE {where} ORDER BY i.id""",
            *args,
        )
        nodes = await walk(run, ITEMS, "items", 100, filter=given)
        assert [n["id"] for n in nodes] == [encode_id("Item", r["id"]) for r in rows], given
        assert rows


async def test_awards_filters_equal_sql(run: Run, db: Database) -> None:
    top = await busiest(db)
    supplier = await db.fetchval(
        "SELECT supplier_id FROM awards GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    code, unit = top["catalog_code"], top["unit"]
    cases = [
        ({"catalogCode": code, "unit": unit}, "i.catalog_code = $1 AND i.unit = $2", [code, unit]),
        ({"catalogCode": code, "awardedFrom": "2024-01-01", "awardedTo": "2024-06-30"},
         "i.catalog_code = $1 AND a.awarded_on BETWEEN '2024-01-01' AND '2024-06-30'", [code]),
        ({"supplier": encode_id("Supplier", supplier)}, "a.supplier_id = $1", [supplier]),
        ({"agency": encode_id("Agency", top["agency"])}, "p.agency_id = $1", [top["agency"]]),
        ({"procurement": encode_id("Procurement", top["procurement"])},
         "i.procurement_id = $1", [top["procurement"]]),
        ({"awardedFrom": "2025-12-01"}, "a.awarded_on >= '2025-12-01'", []),
    ]  # fmt: skip
    for given, where, args in cases:
        rows = await db.fetch(
            f"""SELECT a.id, a.unit_price FROM awards a JOIN items i ON i.id = a.item_id
                  JOIN procurements p ON p.id = i.procurement_id WHERE {where} ORDER BY a.id""",
            *args,
        )
        nodes = await walk(run, AWARDS, "awards", 100, filter=given)
        assert nodes == [
            {"id": encode_id("Award", r["id"]), "unitPrice": str(r["unit_price"])} for r in rows
        ], given
        assert rows


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (ITEMS, {"filter": {"catalogCode": ""}}, "BAD_USER_INPUT"),
        (AWARDS, {"filter": {"unit": "x" * 101}}, "BAD_USER_INPUT"),
        (UNIT_PRICES, {"filter": {"catalogCode": ""}}, "BAD_USER_INPUT"),
        (AWARDS, {"filter": {"supplier": encode_id("Agency", 1)}}, "INVALID_ID"),
        (ITEMS, {"filter": {"procurement": "nonsense"}}, "INVALID_ID"),
        (UNIT_PRICES, {"after": "nonsense"}, "INVALID_CURSOR"),
        (AWARDS, {"first": 101}, "INVALID_PAGE_SIZE"),
    ],
)
async def test_bad_input_has_a_stable_code(
    run: Run, query: str, variables: dict[str, Any], code: str
) -> None:
    error = await run.error(query, **variables)
    assert error["extensions"]["code"] == code


async def test_an_id_of_another_type_is_named_with_its_article(run: Run) -> None:
    error = await run.error(AWARDS, filter={"supplier": encode_id("Agency", 1)})
    assert "is the ID of an Agency, expected Supplier" in error["message"]
    error = await run.error(ITEMS, filter={"procurement": encode_id("Supplier", 1)})
    assert "is the ID of a Supplier, expected Procurement" in error["message"]


async def test_typical_price_pages_cost_under_the_default_limit(run: Run, db: Database) -> None:
    top = await busiest(db)
    page = """query($code: String!, $unit: String) {
      unitPrices(filter: {catalogCode: $code, unit: $unit}, first: 10) {
        nodes { catalogCode unit description awardCount minPrice p25 median p75 maxPrice } }
      awards(filter: {catalogCode: $code, unit: $unit}, first: 50) { totalCount nodes {
        unitPrice quantity awardedOn supplier { name document }
        item { description procurement { pncpControlNumber agency { name uf } } } } } }"""
    result = await run(page, code=top["catalog_code"], unit=top["unit"])
    assert result.errors is None
    assert 0 < result.extensions["cost"]["requestedQueryCost"] < 1000


async def test_a_write_around_the_writers_is_in_the_next_answer(
    make_database: DatabaseFactory,
) -> None:
    """Awards written by plain SQL mark the kept summary stale (migration 0008's triggers):
    the API answers the computed summary until a refresh, then the kept one, equal."""
    url = await make_database()
    settings = replace(Settings(), database_url=url)
    async with open_database(settings) as db:
        await db.execute(
            """WITH a AS (INSERT INTO agencies (cnpj, name, sphere) VALUES ('1', 'A', 'M')
                          RETURNING id),
                    s AS (INSERT INTO suppliers (document, kind, name) VALUES ('2', 'PJ', 'S')
                          RETURNING id),
                    p AS (INSERT INTO procurements (pncp_control_number, agency_id, year,
                              sequence, modality, object, published_at)
                          SELECT 'k', id, 2024, 1, 6, 'o', now() FROM a RETURNING id),
                    i AS (INSERT INTO items (procurement_id, number, description, catalog_code,
                              unit) SELECT id, 1, 'Dipirona', '9', 'Comprimido' FROM p
                          RETURNING id)
               INSERT INTO awards (item_id, supplier_id, sequence, unit_price)
               SELECT i.id, s.id, n, n FROM i, s, generate_series(1, 4) n"""
        )
        run = Run(build_schema(settings), db, settings)
        want = [{"catalogCode": "9", "unit": "Comprimido", "description": "Dipirona",
                 "awardCount": 4, "minPrice": "1.0000", "p25": "1.7500", "median": "2.5000",
                 "p75": "3.2500", "maxPrice": "4.0000"}]  # fmt: skip
        computed = await run.data(UNIT_PRICES)
        assert computed["unitPrices"]["nodes"] == want
        assert await db.fetchval("SELECT count(*) FROM unit_price_summary") == 0
        assert await ensure_current(db)
        assert await db.fetchval("SELECT count(*) FROM unit_price_summary") == 1
        assert (await run.data(UNIT_PRICES))["unitPrices"]["nodes"] == want


def _path_count(path: str) -> float:
    return REGISTRY.get_sample_value("cidadao_ai_execution_path_total", {"path": path}) or 0.0


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("{ items(first: 3) { nodes { id catalogCode procurement { id } } totalCount } }",
         "compiled"),
        ("{ awards(first: 3) { edges { cursor node { unitPrice supplier { name } } } } }",
         "compiled"),
        ("{ unitPrices(first: 3) { nodes { catalogCode median } pageInfo { endCursor } } }",
         "compiled"),
        # Spending's own resolver, called by the compiled path as it is (its connection is
        # no rows of a table); an error in it falls back to the ordinary path's answer.
        ("{ spending(groupBy: UF, first: 3) { nodes { key total } } }", "compiled"),
        ('{ spending(groupBy: UF, after: "x") { nodes { key } } }', "fallback"),
    ],
)  # fmt: skip
async def test_the_new_root_fields_run_on_the_path_they_are_made_for(
    run: Run, query: str, path: str
) -> None:
    before = _path_count(path)
    result = await run.execute(query, {})  # the default path, compiled when it can
    assert (result.errors is None) == (path == "compiled"), result.errors
    assert _path_count(path) == before + 1
