"""A page read by walking its ordering's index keeps the walk's order: the clauses tested
above the walk's fence are tests of each row (`Clause.tested`), never joins, which
PostgreSQL may run as a hash of the other table's rows and so hand the walk's rows back out
of order. An outside tester found items of an agency, near the end of its list, answered
in reverse (ordinary path) and with rows skipped (compiled path) on 1,000,000 contracts:
the agency clause was a semi-join without a per-row form."""

from __future__ import annotations

from typing import Any

import pytest

from cidadao_gql.data import filters
from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Sql
from cidadao_gql.schema.relay import encode_id
from tests.conftest import Run

# Filters whose clauses read another table, each field set.
READING_OTHERS = [
    filters.ItemWhere(agency_ids=(1,)),
    filters.ItemWhere(agency_ids=(1, 2)),
    filters.AwardWhere(agency_ids=(1, 2)),
    filters.AwardWhere(catalog_code="1", unit="UN"),
    filters.AwardWhere(procurement_ids=(1, 2), agency_ids=(3,)),
]


@pytest.mark.parametrize("where", READING_OTHERS, ids=repr)
def test_a_clause_reading_another_table_has_a_test_of_each_row(where: Any) -> None:
    sql = Sql()
    where(sql)
    joins = [c for c in sql.clauses if "SELECT" in c.sql and "= (SELECT id FROM" not in c.sql]
    assert joins
    per_row = ("(SELECT", "coalesce((SELECT")  # a scalar subquery of the row
    assert all(c.tested is not None and c.tested.startswith(per_row) for c in joins), joins


PAGE = """query P($f: FILTER, $after: String) { LIST(first: 3, after: $after, filter: $f) {
  pageInfo { hasNextPage endCursor } nodes { id } } }"""


async def _walk(run: Run, name: str, kind: str, given: dict[str, Any]) -> list[str]:
    query = PAGE.replace("FILTER", kind).replace("LIST", name)
    found: list[str] = []
    cursor = None
    while True:
        page = (await run.data(query, f=given, after=cursor))[name]
        found += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        cursor = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("name", ["items", "awards"])
async def test_an_agencys_items_and_awards_walk_in_order_to_the_end(
    run: Run, db: Database, name: str
) -> None:
    agency = await db.fetchval(
        "SELECT p.agency_id FROM items i JOIN procurements p ON p.id = i.procurement_id"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    item = "t.id" if name == "items" else "t.item_id"
    expected = await db.fetch(
        f"SELECT t.id FROM {name} t JOIN items i ON i.id = {item}"
        f" JOIN procurements p ON p.id = i.procurement_id WHERE p.agency_id = $1 ORDER BY t.id",
        agency,
    )
    kind = "ItemFilter" if name == "items" else "AwardFilter"
    walked = await _walk(run, name, kind, {"agency": encode_id("Agency", agency)})
    assert walked == [encode_id(kind.removesuffix("Filter"), r["id"]) for r in expected]
    assert len(walked) > 6  # pages enough to walk
