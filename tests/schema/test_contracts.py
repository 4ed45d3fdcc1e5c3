"""The `contracts` connection: pagination, filters, ordering, batching and bad input."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from cidadao_gql.data.db import Database
from cidadao_gql.schema.relay import decode_id, encode_id
from tests.conftest import Run

PAGE = """
query Page($first: Int!, $after: String, $filter: ContractFilter, $order: ContractOrder) {
  contracts(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id finalValue signedOn } }
  }
}"""


async def walk(run: Run, first: int, **variables: Any) -> list[dict[str, Any]]:
    """Every node of the list, page after page."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await run.data(PAGE, first=first, after=after, **variables))["contracts"]
        nodes += [edge["node"] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]


def pks(nodes: list[dict[str, Any]]) -> list[int]:
    return [decode_id(n["id"], "Contract")[1] for n in nodes]


async def busiest_agency(db: Database) -> int:
    agency: int = await db.fetchval(
        "SELECT agency_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    return agency


async def test_pages_cover_the_list_without_gaps_or_repeats(run: Run, db: Database) -> None:
    agency = await busiest_agency(db)
    expected = [
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM contracts WHERE agency_id = $1 ORDER BY signed_on DESC, id DESC", agency
        )
    ]
    assert len(expected) > 20
    nodes = await walk(run, 7, filter={"agency": encode_id("Agency", agency)})
    assert pks(nodes) == expected


@pytest.mark.parametrize(
    ("field", "direction", "sql"),
    [
        ("VALUE", "ASC", "final_value ASC, id ASC"),
        ("VALUE", "DESC", "final_value DESC, id DESC"),
        ("SIGNED_ON", "ASC", "signed_on ASC, id ASC"),
    ],
)
async def test_orderings_paginate_in_order(
    run: Run, db: Database, field: str, direction: str, sql: str
) -> None:
    agency = await busiest_agency(db)
    expected = [
        r["id"]
        for r in await db.fetch(
            f"SELECT id FROM contracts WHERE agency_id = $1 ORDER BY {sql}", agency
        )
    ]
    nodes = await walk(
        run,
        9,
        filter={"agency": encode_id("Agency", agency)},
        order={"field": field, "direction": direction},
    )
    assert pks(nodes) == expected


FILTERS: list[tuple[dict[str, Any], str, list[Any]]] = [
    ({"uf": "SP"}, "uf = $1", ["SP"]),
    ({"modality": "DISPENSA"}, "modality = $1", [8]),
    ({"signedFrom": "2024-01-01", "signedTo": "2024-03-31"}, "signed_on BETWEEN $1 AND $2",
     [date(2024, 1, 1), date(2024, 3, 31)]),
    ({"valueMin": "100000", "valueMax": "250000.50"}, "final_value BETWEEN $1 AND $2",
     [Decimal("100000"), Decimal("250000.50")]),
    ({"search": "medicamentos"}, "object ILIKE '%medicamento%'", []),
    ({"search": "combustíveis diesel"}, "object ILIKE '%combustíveis%' AND object ILIKE '%diesel%'", []),
]  # fmt: skip


@pytest.mark.parametrize(("given", "where", "args"), FILTERS)
async def test_filters_match_sql(
    run: Run, db: Database, given: dict[str, Any], where: str, args: list[Any]
) -> None:
    expected = await db.fetchval(f"SELECT count(*) FROM contracts WHERE {where}", *args)
    page = (await run.data(PAGE, first=100, filter=given))["contracts"]
    assert expected > 0
    assert page["totalCount"] == expected
    ids = pks([e["node"] for e in page["edges"]])
    matching = await db.fetchval(
        f"SELECT count(*) FROM contracts WHERE id = any(${len(args) + 1}::bigint[]) AND {where}",
        *args,
        ids,
    )
    assert matching == len(ids) == min(expected, 100)


async def test_agency_filters_by_id_and_cnpj(run: Run, db: Database) -> None:
    agency = await busiest_agency(db)
    cnpj = await db.fetchval("SELECT cnpj FROM agencies WHERE id = $1", agency)
    expected = await db.fetchval("SELECT count(*) FROM contracts WHERE agency_id = $1", agency)
    by_id = await run.data(PAGE, first=1, filter={"agency": encode_id("Agency", agency)})
    by_cnpj = await run.data(PAGE, first=1, filter={"agencyCnpj": cnpj})
    assert by_id["contracts"]["totalCount"] == by_cnpj["contracts"]["totalCount"] == expected


async def test_one_agency_is_an_equality_that_keeps_the_index_order(
    run: Run, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`agency_id = any($1)` with one id made PostgreSQL sort all of a busy agency's
    contracts (or walk the date index) for a 50-row page; `agency_id = $1` reads the
    (agency_id, signed_on, id) index in order and stops at the page (benchmarks/peers.py)."""
    sent: list[str] = []
    fetch = db.fetch

    async def spy(sql: str, *args: Any) -> Any:
        sent.append(sql)
        return await fetch(sql, *args)

    monkeypatch.setattr(db, "fetch", spy)
    agency = encode_id("Agency", await busiest_agency(db))
    await run.data(PAGE, first=5, filter={"agency": agency})
    page = next(s for s in sent if "FROM contracts t" in s and "ORDER BY" in s)
    assert "t.agency_id = $1" in page and "any(" not in page


async def test_supplier_filters_by_id_and_document(run: Run, db: Database) -> None:
    row = await db.fetchrow(
        """SELECT s.id, s.document, count(*) AS n FROM contracts c JOIN suppliers s ON s.id = c.supplier_id
            GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1"""
    )
    assert row is not None
    by_id = await run.data(PAGE, first=1, filter={"supplier": encode_id("Supplier", row["id"])})
    by_document = await run.data(PAGE, first=1, filter={"supplierDocument": row["document"]})
    assert by_id["contracts"]["totalCount"] == by_document["contracts"]["totalCount"] == row["n"]


NESTED = """
query Nested($first: Int!) {
  contracts(first: $first) {
    edges { node { id number supplier { id name document } agency { id name cnpj } } }
  }
}"""


async def test_page_with_supplier_and_agency_costs_one_round_trip(run: Run) -> None:
    # page, suppliers, agencies: one statement (execution/compiled/tree.py; level by level, 3)
    assert await run.round_trips(NESTED, first=100) == 1


async def test_nested_connections_are_batched_per_level(run: Run) -> None:
    query = """{
      agencies(first: 50) {
        edges { node { name contracts(first: 5) { edges { node { supplier { name } } } } } }
      }
    }"""
    # agencies page, contracts of all 50 agencies, suppliers of all of those contracts: one
    # statement (level by level, one per level: 3)
    assert await run.round_trips(query) == 1


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 0}, "INVALID_PAGE_SIZE"),
        ({"first": 101}, "INVALID_PAGE_SIZE"),
        ({"first": 10, "after": "not-a-cursor"}, "INVALID_CURSOR"),
        (
            {"first": 10, "after": base64.urlsafe_b64encode(b'["ID_ASC","1",1]').decode()},
            "INVALID_CURSOR",
        ),
        ({"first": 10, "filter": {"supplierDocument": "11.111.111/0001-11"}}, "INVALID_DOCUMENT"),
        ({"first": 10, "filter": {"agency": encode_id("Supplier", 1)}}, "INVALID_ID"),
        ({"first": 10, "filter": {"uf": "XX"}}, "BAD_USER_INPUT"),
        ({"first": 10, "order": {"field": "COLOUR"}}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_input_gets_a_coded_error(run: Run, variables: dict[str, Any], code: str) -> None:
    before = await run.db.round_trips.settled()
    error = await run.error(PAGE, **variables)
    assert error["extensions"]["code"] == code
    assert error["message"]
    assert await run.db.round_trips.settled() == before  # refused before any SQL


async def test_page_size_error_names_the_bounds(run: Run) -> None:
    error = await run.error(PAGE, first=101)
    assert error["extensions"] == {
        "code": "INVALID_PAGE_SIZE",
        "argument": "first",
        "value": 101,
        "minimum": 1,
        "maximum": 100,
    }
    assert error["path"] == ["contracts"]


async def test_unknown_enum_literal_is_a_validation_error(run: Run) -> None:
    error = await run.error(
        "{ contracts(first: 1, filter: {modality: LEILAO_SUBAQUATICO}) { totalCount } }"
    )
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "LEILAO_SUBAQUATICO" in error["message"]


async def test_syntax_error_is_coded(run: Run) -> None:
    error = await run.error("{ contracts(first: 1 { totalCount }")
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
