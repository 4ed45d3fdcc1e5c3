"""Agencies, suppliers, procurements, items, awards, sanctions and node(id:) (spending:
test_spending)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from cidadao_gql.data.db import Database
from cidadao_gql.schema.relay import encode_id
from tests.conftest import Run

PNCP_KEY = "06140404000167-1-000067/2024"


async def test_procurement_from_pncp_reaches_items_awards_and_suppliers(
    run: Run, db: Database
) -> None:
    awarded = await db.fetchrow(
        """SELECT p.id, p.pncp_control_number, count(*) AS awards FROM awards a
             JOIN items i ON i.id = a.item_id JOIN procurements p ON p.id = i.procurement_id
            WHERE p.metadata->>'source' IS NULL
            GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 1"""
    )
    assert awarded is not None
    data = await run.data(
        """query($id: ID!) { node(id: $id) { ... on Procurement {
             pncpControlNumber modality agency { cnpj }
             items(first: 50) { edges { node { awards(first: 5) { edges { node {
               unitPrice supplier { document kind } } } } } } } } } }""",
        id=encode_id("Procurement", awarded["id"]),
    )
    procurement = data["node"]
    assert procurement["pncpControlNumber"] == awarded["pncp_control_number"]
    assert procurement["modality"] == "PREGAO_ELETRONICO"
    assert procurement["agency"]["cnpj"] == awarded["pncp_control_number"][:14]
    awards = [
        a["node"] for i in procurement["items"]["edges"] for a in i["node"]["awards"]["edges"]
    ]
    assert len(awards) == awarded["awards"]
    assert all(a["supplier"]["kind"] == "PJ" for a in awards)


@pytest.mark.parametrize(
    ("field", "filter", "where", "args"),
    [
        ("agencies", {"uf": "SP"}, "uf = $1", ["SP"]),
        ("agencies", {"sphere": "FEDERAL"}, "sphere = $1", ["F"]),
        ("agencies", {"search": "município de são"}, "unaccent(name) ILIKE unaccent($1)", ["%município de são%"]),
        ("suppliers", {"size": "EPP"}, "size = $1", ["EPP"]),
        ("suppliers", {"search": "pharma"}, "unaccent(name) ILIKE unaccent($1)", ["%pharma%"]),
        ("procurements", {"modality": "PREGAO_ELETRONICO", "year": 2024}, "modality = 6 AND year = $1", [2024]),
        ("procurements", {"status": "REVOKED"}, "status = $1", [2]),
        ("procurements", {"publishedFrom": "2024-06-01", "publishedTo": "2024-06-30"}, "published_at >= $1 AND published_at < $2", [date(2024, 6, 1), date(2024, 7, 1)]),
        ("procurements", {"valueMin": "50000", "valueMax": "90000"}, "estimated_total BETWEEN 50000 AND 90000 AND $1", [True]),
        ("procurements", {"agencyCnpj": "06.140.404/0001-67"}, "agency_id = (SELECT id FROM agencies WHERE cnpj = $1)", ["06140404000167"]),
        ("sanctions", {"register": "CEIS"}, "register = $1", ["CEIS"]),
    ],
)  # fmt: skip
async def test_list_filters_match_sql(
    run: Run, db: Database, field: str, filter: dict[str, Any], where: str, args: list[Any]
) -> None:
    expected = await db.fetchval(f"SELECT count(*) FROM {field} WHERE {where}", *args)
    filter_type = {
        "agencies": "AgencyFilter",
        "suppliers": "SupplierFilter",
        "procurements": "ProcurementFilter",
        "sanctions": "SanctionFilter",
    }[field]
    data = await run.data(
        f"query($f: {filter_type}) {{ {field}(first: 100, filter: $f) {{ totalCount nodes {{ id }} }} }}",
        f=filter,
    )
    assert expected > 0
    assert data[field]["totalCount"] == expected
    assert len(data[field]["nodes"]) == min(expected, 100)


async def test_sanctions_active_on_a_day(run: Run, db: Database) -> None:
    day = await db.fetchval("SELECT starts_on FROM sanctions ORDER BY id LIMIT 1")
    expected = await db.fetchval(
        "SELECT count(*) FROM sanctions WHERE starts_on <= $1 AND coalesce(ends_on, $1) >= $1", day
    )
    data = await run.data(
        "query($d: Date) { sanctions(first: 100, filter: {activeOn: $d}) { totalCount } }",
        d=day.isoformat(),
    )
    assert expected >= 1
    assert data["sanctions"]["totalCount"] == expected


async def test_supplier_document_filter_accepts_punctuation(run: Run, db: Database) -> None:
    document = await db.fetchval(
        "SELECT document FROM suppliers WHERE kind = 'PJ' ORDER BY id LIMIT 1"
    )
    punctuated = f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}"
    data = await run.data(
        "query($d: String) { suppliers(first: 1, filter: {document: $d}) { nodes { document } } }",
        d=punctuated,
    )
    assert data["suppliers"]["nodes"] == [{"document": document}]


async def test_sanctions_link_to_their_supplier(run: Run, db: Database) -> None:
    row = await db.fetchrow(
        "SELECT s.supplier_document, count(*) AS n FROM sanctions s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    )
    assert row is not None
    data = await run.data(
        """query($d: String) { sanctions(first: 10, filter: {supplierDocument: $d}) {
             nodes { register supplier { document sanctions { startsOn } } } } }""",
        d=row["supplier_document"],
    )
    nodes = data["sanctions"]["nodes"]
    assert len(nodes) == row["n"]
    assert nodes[0]["supplier"]["document"] == row["supplier_document"]
    assert len(nodes[0]["supplier"]["sanctions"]) == row["n"]


async def test_procurement_search_matches_the_word(run: Run, db: Database) -> None:
    """Portuguese full text: the word in any case, not a longer word sharing its start
    (ambulatorial), its plural, with or without the accent. The expectation is computed
    here, in Python, not by the same SQL. (Before accents were set aside, PostgreSQL's
    Portuguese stemmer made "ambul" of the word and "ambulânc" of its plural, so
    "ambulâncias" was not a match; unaccented, both are "ambulanc".)"""
    word = re.compile(r"\bambul[âa]ncias?\b", re.IGNORECASE)
    rows = await db.fetch("SELECT id, object FROM procurements")
    expected = {encode_id("Procurement", r["id"]) for r in rows if word.search(r["object"])}
    assert any("ambulatorial" in r["object"].lower() for r in rows)  # a near miss is there
    data = await run.data(
        """query($f: ProcurementFilter) {
             procurements(first: 100, filter: $f) { totalCount nodes { id } } }""",
        f={"search": "ambulância"},
    )
    assert expected
    found = {n["id"] for n in data["procurements"]["nodes"]}
    assert found <= expected
    assert len(found) == min(len(expected), 100)
    assert data["procurements"]["totalCount"] == len(expected)


@pytest.mark.parametrize(
    ("table", "type_name", "field"),
    [
        ("agencies", "Agency", "cnpj"),
        ("suppliers", "Supplier", "document"),
        ("procurements", "Procurement", "pncpControlNumber"),
        ("items", "Item", "number"),
        ("awards", "Award", "sequence"),
        ("contracts", "Contract", "number"),
        ("sanctions", "Sanction", "register"),
    ],
)
async def test_node_finds_every_type(
    run: Run, db: Database, table: str, type_name: str, field: str
) -> None:
    pk = await db.fetchval(f"SELECT max(id) FROM {table}")
    global_id = encode_id(type_name, pk)
    data = await run.data(
        f"query($id: ID!) {{ node(id: $id) {{ __typename id ... on {type_name} {{ {field} }} }} }}",
        id=global_id,
    )
    assert data["node"]["__typename"] == type_name
    assert data["node"]["id"] == global_id
    assert data["node"][field] is not None


async def test_node_of_a_missing_row_is_null(run: Run) -> None:
    data = await run.data(
        "query($id: ID!) { node(id: $id) { id } }", id=encode_id("Contract", 10**12)
    )
    assert data["node"] is None


@pytest.mark.parametrize("bad", ["%%%", encode_id("Planet", 1), "Q29udHJhY3Q6YWJj"])
async def test_node_with_a_bad_id_is_refused(run: Run, bad: str) -> None:
    error = await run.error("query($id: ID!) { node(id: $id) { id } }", id=bad)
    assert error["extensions"]["code"] == "INVALID_ID"


async def test_viewer_is_null_without_a_key(run: Run) -> None:
    assert await run.data("{ viewer { id } }") == {"viewer": None}
