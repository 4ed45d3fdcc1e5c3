"""Issue 17's filters, orderings and backward paging: every list walked forwards and
backwards, page by page, gives the rows of a plain SQL query on the seeded database, in its
order, with no duplicate and no gap; bad combinations are refused with stable codes."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from cidadao_gql.data.db import Database
from cidadao_gql.ingestion import loading, synthetic
from cidadao_gql.schema.relay import decode_id, encode_id
from tests.conftest import DatabaseFactory, Run, connect

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
ARGS = (
    "first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order"
)
VARS = "$first: Int, $after: String, $last: Int, $before: String"

LISTS = {
    "contracts": (
        "ContractFilter", "ContractOrder", f"contracts({ARGS}) {{ {PAGE_INFO} edges {{ cursor node {{ id }} }} }}"
    ),
    "procurements": (
        "ProcurementFilter", "ProcurementOrder",
        f"procurements({ARGS}) {{ {PAGE_INFO} edges {{ cursor node {{ id }} }} }}",
    ),
    "agencies": ("AgencyFilter", "PartyOrder", f"agencies({ARGS}) {{ {PAGE_INFO} nodes {{ id }} }}"),
    "suppliers": (
        "SupplierFilter", "PartyOrder", f"suppliers({ARGS}) {{ {PAGE_INFO} nodes {{ id }} }}"
    ),
}  # fmt: skip


def _query(name: str, parent: str | None = None) -> str:
    """The list `name` at the root, or of the `parent` type's node `$id`."""
    filter_type, order_type, body = LISTS[name]
    variables = f"{VARS}, $filter: {filter_type}, $order: {order_type}"
    if parent is None:
        return f"query Q({variables}) {{ {body} }}"
    return f"query Q({variables}, $id: ID!) {{ node(id: $id) {{ ... on {parent} {{ {body} }} }} }}"


def _page(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = data.get("node", data)[name]
    return found


def _ids(page: dict[str, Any]) -> list[int]:
    nodes = page["nodes"] if "nodes" in page else [e["node"] for e in page["edges"]]
    return [decode_id(n["id"])[1] for n in nodes]


async def walk(
    run: Run, name: str, size: int, backward: bool = False, parent: str | None = None,
    **variables: Any,
) -> list[int]:  # fmt: skip
    """Every id of the list, in its order, from pages of `size` forwards (`first`/`after`)
    or backwards (`last`/`before`), each page's pageInfo checked on the way."""
    query, cursor = _query(name, parent), None
    found: list[int] = []
    while True:
        given = {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
        page = _page(await run.data(query, **given, **variables), name)
        ids, info = _ids(page), page["pageInfo"]
        assert len(ids) <= size
        if "edges" in page and ids:
            assert info["startCursor"] == page["edges"][0]["cursor"]
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        if backward:
            found = ids + found
            assert info["hasNextPage"] is (cursor is not None)
            if not info["hasPreviousPage"]:
                return found
            cursor = info["startCursor"]
        else:
            found += ids
            assert info["hasPreviousPage"] is (cursor is not None)
            if not info["hasNextPage"]:
                return found
            cursor = info["endCursor"]


async def both_ways(
    run: Run, name: str, expected: list[int], parent: str | None = None, **variables: Any
) -> None:
    """Forwards and backwards, the SQL's rows in its order: none twice, none missed."""
    assert len(expected) == len(set(expected))
    forwards = await walk(run, name, 7, parent=parent, **variables)
    assert forwards == expected
    assert await walk(run, name, 5, backward=True, parent=parent, **variables) == expected


async def sql_ids(db: Database, sql: str, *args: Any) -> list[int]:
    return [r["id"] for r in await db.fetch(sql, *args)]


# -- contracts ---------------------------------------------------------------------------


async def test_contracts_of_several_states_and_modalities(run: Run, db: Database) -> None:
    ufs = [r["uf"] for r in await db.fetch(
        "SELECT uf FROM contracts WHERE uf IS NOT NULL GROUP BY 1 ORDER BY count(*), 1 LIMIT 3")]  # fmt: skip
    expected = await sql_ids(
        db, "SELECT id FROM contracts WHERE uf = any($1::bpchar[]) ORDER BY signed_on DESC, id DESC",
        ufs,
    )  # fmt: skip
    assert len(expected) > 10
    await both_ways(run, "contracts", expected, filter={"ufIn": ufs})
    expected = await sql_ids(
        db, "SELECT id FROM contracts WHERE modality = any('{8,9}') AND uf = any($1::bpchar[])"
        " ORDER BY final_value, id", ufs,
    )  # fmt: skip
    order = {"field": "VALUE", "direction": "ASC"}
    filter = {"ufIn": ufs, "modalityIn": ["DISPENSA", "INEXIGIBILIDADE"]}
    await both_ways(run, "contracts", expected, filter=filter, order=order)


@pytest.mark.parametrize("sphere", ["F", "E", "M"])
async def test_contracts_of_a_sphere(run: Run, db: Database, sphere: str) -> None:
    expected = await sql_ids(
        db, "SELECT c.id FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " WHERE a.sphere = $1 AND c.final_value >= 100000 ORDER BY c.final_value DESC, c.id DESC",
        sphere,
    )  # fmt: skip
    assert expected
    name = {"F": "FEDERAL", "E": "STATE", "M": "MUNICIPAL"}[sphere]
    order = {"field": "VALUE", "direction": "DESC"}
    filter = {"sphere": name, "valueMin": "100000"}
    await both_ways(run, "contracts", expected, filter=filter, order=order)


async def test_contracts_of_a_municipality(run: Run, db: Database) -> None:
    code = await db.fetchval(
        "SELECT a.ibge_code FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " WHERE a.ibge_code IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    expected = await sql_ids(
        db, "SELECT c.id FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " WHERE a.ibge_code = $1 ORDER BY c.signed_on, c.id", code,
    )  # fmt: skip
    assert len(expected) > 10
    order = {"field": "SIGNED_ON", "direction": "ASC"}
    await both_ways(run, "contracts", expected, filter={"ibgeCode": code}, order=order)


async def test_contracts_of_a_procurement_at_the_root_and_nested(run: Run, db: Database) -> None:
    procurement = await db.fetchval(
        "SELECT procurement_id FROM contracts WHERE procurement_id IS NOT NULL"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    expected = await sql_ids(
        db, "SELECT id FROM contracts WHERE procurement_id = $1 ORDER BY signed_on DESC, id DESC",
        procurement,
    )  # fmt: skip
    assert expected
    pid = encode_id("Procurement", procurement)
    await both_ways(run, "contracts", expected, filter={"procurement": pid})
    await both_ways(run, "contracts", expected, parent="Procurement", id=pid)


async def test_nested_contracts_take_the_new_filters(run: Run, db: Database) -> None:
    agency, uf = (await db.fetchrow(  # type: ignore[misc]  # a row: two columns
        "SELECT agency_id, uf FROM contracts WHERE uf IS NOT NULL GROUP BY 1, 2"
        " ORDER BY count(*) DESC, 1 LIMIT 1"))  # fmt: skip
    expected = await sql_ids(
        db, "SELECT id FROM contracts WHERE agency_id = $1 AND uf = any($2::bpchar[])"
        " AND modality = any('{6,8}') ORDER BY final_value DESC, id DESC", agency, [uf, "AC"],
    )  # fmt: skip
    assert len(expected) > 10
    filter = {"ufIn": [uf, "AC"], "modalityIn": ["PREGAO_ELETRONICO", "DISPENSA"]}
    order = {"field": "VALUE", "direction": "DESC"}
    aid = encode_id("Agency", agency)
    await both_ways(run, "contracts", expected, parent="Agency", id=aid, filter=filter, order=order)
    supplier = await db.fetchval(
        "SELECT supplier_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    expected = await sql_ids(
        db, "SELECT c.id FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " WHERE c.supplier_id = $1 AND a.sphere = 'M' ORDER BY c.signed_on DESC, c.id DESC",
        supplier,
    )  # fmt: skip
    assert expected
    sid = encode_id("Supplier", supplier)
    await both_ways(run, "contracts", expected, parent="Supplier", id=sid,
                    filter={"sphere": "MUNICIPAL"})  # fmt: skip


# -- procurements ------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_procurements_by_estimated_value(run: Run, db: Database, direction: str) -> None:
    ufs = [r["uf"] for r in await db.fetch(
        "SELECT uf FROM procurements WHERE uf IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3")]  # fmt: skip
    expected = await sql_ids(
        db, "SELECT p.id FROM procurements p JOIN agencies a ON a.id = p.agency_id"
        " WHERE p.uf = any($1::bpchar[]) AND a.sphere = 'M' AND p.modality = any('{6,8}')"
        f" ORDER BY coalesce(p.estimated_total, 0) {direction}, p.id {direction}", ufs,
    )  # fmt: skip
    assert len(expected) > 5
    filter = {"ufIn": ufs, "modalityIn": ["PREGAO_ELETRONICO", "DISPENSA"], "sphere": "MUNICIPAL"}
    order = {"field": "VALUE", "direction": direction}
    await both_ways(run, "procurements", expected, filter=filter, order=order)


async def test_agency_procurements_ordered(run: Run, db: Database) -> None:
    agency = await db.fetchval(
        "SELECT agency_id FROM procurements GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    expected = await sql_ids(
        db, "SELECT id FROM procurements WHERE agency_id = $1"
        " ORDER BY coalesce(estimated_total, 0) DESC, id DESC", agency,
    )  # fmt: skip
    aid = encode_id("Agency", agency)
    order = {"field": "VALUE", "direction": "DESC"}
    await both_ways(run, "procurements", expected, parent="Agency", id=aid, order=order)
    expected = await sql_ids(
        db, "SELECT id FROM procurements WHERE agency_id = $1 ORDER BY published_at, id", agency
    )
    order = {"field": "PUBLISHED_AT", "direction": "ASC"}
    await both_ways(run, "procurements", expected, parent="Agency", id=aid, order=order)


# -- agencies and suppliers --------------------------------------------------------------


async def test_totals_are_the_sums_of_the_contracts(db: Database) -> None:
    for table, column in (("agencies", "agency_id"), ("suppliers", "supplier_id")):
        wrong = await db.fetchval(
            f"SELECT count(*) FROM {table} p LEFT JOIN (SELECT {column} AS id,"
            f" sum(final_value) AS total FROM contracts GROUP BY 1) c ON c.id = p.id"
            " WHERE p.contracted_total <> coalesce(c.total, 0)"
        )
        assert wrong == 0, table


@pytest.mark.parametrize(
    ("name", "table", "order", "sql"),
    [
        ("agencies", "agencies", ("NAME", "ASC"), "name, id"),
        ("agencies", "agencies", ("TOTAL_VALUE", "DESC"), "contracted_total DESC, id DESC"),
        ("suppliers", "suppliers", ("NAME", "DESC"), "name DESC, id DESC"),
        ("suppliers", "suppliers", ("TOTAL_VALUE", "ASC"), "contracted_total, id"),
    ],
)
async def test_agencies_and_suppliers_by_name_and_total(
    run: Run, db: Database, name: str, table: str, order: tuple[str, str], sql: str
) -> None:
    where, filter = ("sphere = 'M'", {"sphere": "MUNICIPAL"}) if name == "agencies" else (
        "size = 'ME'", {"size": "ME"})  # fmt: skip
    expected = await sql_ids(db, f"SELECT id FROM {table} WHERE {where} ORDER BY {sql}")
    assert len(expected) > 20
    given = {"field": order[0], "direction": order[1]}
    forwards = await walk(run, name, 50, filter=filter, order=given)
    assert forwards == expected
    assert await walk(run, name, 45, backward=True, filter=filter, order=given) == expected


# -- refusals ----------------------------------------------------------------------------


async def test_first_and_last_together_are_refused(run: Run) -> None:
    error = await run.error(_query("contracts"), first=5, last=5)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["arguments"] == ["first", "last"]
    assert "backwards" in error["message"]
    error = await run.error(_query("agencies"), last=5, after="x")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("last", [0, 101])
async def test_last_is_bounded_as_first_is(run: Run, last: int) -> None:
    error = await run.error(_query("suppliers"), last=last)
    assert error["extensions"]["code"] == "INVALID_PAGE_SIZE"
    assert error["extensions"]["argument"] == "last"


async def test_neither_first_nor_last_is_a_page_of_twenty(run: Run) -> None:
    page = _page(await run.data(_query("contracts")), "contracts")
    assert len(_ids(page)) == 20 and page["pageInfo"]["hasNextPage"]
    last = _page(await run.data(_query("contracts"), last=3), "contracts")
    assert last["pageInfo"] == {**last["pageInfo"], "hasNextPage": False, "hasPreviousPage": True}


async def test_a_cursor_of_another_ordering_is_refused_backwards_too(run: Run) -> None:
    order = {"field": "NAME", "direction": "ASC"}
    page = _page(await run.data(_query("agencies"), first=2, order=order), "agencies")
    cursor = page["pageInfo"]["endCursor"]
    other = {"field": "TOTAL_VALUE", "direction": "ASC"}
    error = await run.error(_query("agencies"), last=2, before=cursor, order=other)
    assert error["extensions"]["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize("code", ["São Paulo", "355030", "35503080", "３５５０３０８"])
async def test_a_municipality_is_its_seven_digit_code(run: Run, code: str) -> None:
    error = await run.error(_query("contracts"), filter={"ibgeCode": code})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "ibgeCode"}


@pytest.mark.parametrize("field", ["ufIn", "modalityIn"])
async def test_an_empty_set_of_values_is_refused(run: Run, field: str) -> None:
    error = await run.error(_query("procurements"), filter={field: []})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": field}


async def test_last_is_priced_as_first(run: Run) -> None:
    costs = []
    for given in ({"first": 50}, {"last": 50}, {}):
        result = await run(_query("contracts"), **given)
        costs.append(result.extensions["cost"]["requestedQueryCost"])
    assert costs[0] == costs[1] > costs[2] > 1


async def test_totals_follow_every_write(make_database: DatabaseFactory) -> None:
    """The triggers of migration 0012: a seed's COPY, a second seed on top, then rows
    inserted, updated, moved to another supplier, deleted, and the table truncated."""
    url = await make_database()

    async def wrong(conn: asyncpg.Connection) -> int:
        count: int = await conn.fetchval(
            """SELECT (SELECT count(*) FROM agencies p LEFT JOIN (SELECT agency_id AS id,
                        sum(final_value) AS total FROM contracts GROUP BY 1) c ON c.id = p.id
                       WHERE p.contracted_total <> coalesce(c.total, 0))
                    + (SELECT count(*) FROM suppliers p LEFT JOIN (SELECT supplier_id AS id,
                        sum(final_value) AS total FROM contracts GROUP BY 1) c ON c.id = p.id
                       WHERE p.contracted_total <> coalesce(c.total, 0))"""
        )
        return count

    async with connect(url) as conn:
        for seed in (1, 2):
            scale = synthetic.Scale.for_contracts(500)
            dataset = synthetic.generate(scale, seed, await loading.current_ids(conn))
            await loading.load_dataset(conn, dataset, lambda _: None)
            assert await wrong(conn) == 0
        assert await conn.fetchval("SELECT count(*) FROM agencies WHERE contracted_total > 0") > 1
        await conn.execute(
            """INSERT INTO contracts (agency_id, supplier_id, number, object, modality,
                   initial_value, final_value, signed_on)
               SELECT agency_id, supplier_id, number || '-b', object, modality, initial_value,
                      final_value * 2, signed_on FROM contracts WHERE id % 7 = 0"""
        )
        await conn.execute("UPDATE contracts SET final_value = final_value + 1 WHERE id % 5 = 0")
        await conn.execute(
            "UPDATE contracts SET supplier_id = (SELECT min(id) FROM suppliers) WHERE id % 11 = 0"
        )
        await conn.execute("DELETE FROM contracts WHERE id % 13 = 0")
        assert await wrong(conn) == 0
        await conn.execute("TRUNCATE contracts")
        assert await wrong(conn) == 0
        assert await conn.fetchval("SELECT count(*) FROM agencies WHERE contracted_total <> 0") == 0


NESTED = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  node(id: $id) { ... on %s { %s(first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } } } }"""


@pytest.mark.parametrize(
    ("parent", "field", "sql"),
    [("Procurement", "items", "SELECT id FROM items WHERE procurement_id = $1 ORDER BY number"),
     ("Supplier", "awards", "SELECT id FROM awards WHERE supplier_id = $1 ORDER BY id"),
     ("Agency", "procurements",
      "SELECT id FROM procurements WHERE agency_id = $1 ORDER BY published_at DESC, id DESC")],
)  # fmt: skip
async def test_unfiltered_nested_lists_page_both_ways(
    run: Run, db: Database, parent: str, field: str, sql: str
) -> None:
    column = {"Procurement": "procurement_id", "Supplier": "supplier_id", "Agency": "agency_id"}
    table = {"items": "items", "awards": "awards", "procurements": "procurements"}[field]
    owner = await db.fetchval(
        f"SELECT {column[parent]} FROM {table} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    expected = await sql_ids(db, sql, owner)
    assert len(expected) > 4
    query, pid = NESTED % (parent, field), encode_id(parent, owner)
    for backward in (False, True):
        found: list[int] = []
        cursor = None
        while True:
            given = {"last": 3, "before": cursor} if backward else {"first": 3, "after": cursor}
            page = (await run.data(query, id=pid, **given))["node"][field]
            ids, info = _ids(page), page["pageInfo"]
            found = ids + found if backward else found + ids
            more = info["hasPreviousPage"] if backward else info["hasNextPage"]
            if not more:
                break
            cursor = info["startCursor"] if backward else info["endCursor"]
        assert found == expected, backward


ROOT = """query($first: Int, $after: String, $last: Int, $before: String) {
  %s(first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } }"""


@pytest.mark.parametrize("name", ["items", "awards", "sanctions"])
async def test_root_lists_page_both_ways(run: Run, db: Database, name: str) -> None:
    expected = await sql_ids(db, f"SELECT id FROM {name} ORDER BY id")
    assert len(expected) >= 3
    size = max(1, min(100, len(expected) // 4))  # four pages at least
    pages = {}
    for backward in (False, True):
        found: list[int] = []
        cursor = None
        while True:
            size = 100
            given = (
                {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
            )
            page = (await run.data(ROOT % name, **given))[name]
            ids, info = _ids(page), page["pageInfo"]
            found = ids + found if backward else found + ids
            if not (info["hasPreviousPage"] if backward else info["hasNextPage"]):
                break
            cursor = info["startCursor"] if backward else info["endCursor"]
        pages[backward] = found
    assert pages[False] == pages[True] == expected
