"""`node(id:)` in the one statement (execution/compiled/lookups.py): every type, missing
rows, fragments of other types, aliases and pages below, answered as the ordinary path
answers them, byte for byte (the `run` fixture), in one round trip."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import orjson
import pytest

from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from tests.conftest import Run, answer_bytes, compiled_fields, execution_paths, statements_sent

# Per type: its table, and a selection of its columns, relations and pages.
SELECTIONS = {
    "Agency": ("agencies", """name cnpj sphere power uf ibgeCode
      contracts(first: 2) { totalCount nodes { number supplier { name } } }"""),
    "Supplier": ("suppliers", """name document kind size registeredOn
      awards(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { total } }
      sanctions { id register supplier { name } }"""),
    "Procurement": ("procurements", """pncpControlNumber year modality status estimatedTotal
      publishedAt agency { id name } items(first: 10) { totalCount nodes { id description
      quantity } } contracts(first: 5) { nodes { id number finalValue } }"""),
    "Item": ("items", """number description quantity unit estimatedUnitPrice
      procurement { object agency { uf } } awards(first: 2) { edges { cursor node { total
      supplier { name } } } }"""),
    "Award": ("awards", "quantity unitPrice total awardedOn item { number } supplier { name }"),
    "Contract": ("contracts", """number object modality uf initialValue finalValue signedOn
      startsOn endsOn supplier { name } agency { name } procurement { object }"""),
    "Sanction": ("sanctions", """supplierDocument register startsOn endsOn authority reason
      supplier { id name awards(first: 1) { totalCount } }"""),
}  # fmt: skip
NODE = """query Node($id: ID!) { node(id: $id) { __typename id ... on TYPE { SELECTION } } }"""


async def _some_id(run: Run, table: str) -> int:
    """A row with children where the type has them (the largest id of the smallest table)."""
    found = await run.db.fetchval(f"SELECT max(id) FROM {table}")
    assert found is not None
    return int(found)


@pytest.mark.parametrize("type_name", sorted(SELECTIONS))
async def test_a_node_of_every_type_in_one_statement(run: Run, type_name: str) -> None:
    table, selection = SELECTIONS[type_name]
    query = NODE.replace("TYPE", type_name).replace("SELECTION", selection)
    pk = await _some_id(run, table)
    before = compiled_fields("statement"), compiled_fields("levels"), execution_paths("fallback")
    for key in (pk, 10**9):  # a row, and none
        data = await run.data(query, id=encode_id(type_name, key))  # both paths, byte for byte
        assert (data["node"] is None) == (key == 10**9)
    assert await run.round_trips(query, id=encode_id(type_name, pk)) == 1
    assert compiled_fields("levels") == before[1] and execution_paths("fallback") == before[2]
    assert compiled_fields("statement") > before[0]


DETAIL = """query Detail($id: ID!) { node(id: $id) { ... on Procurement { id object agency { name }
  items(first: 10) { totalCount nodes { id description quantity } }
  contracts(first: 5) { nodes { id number finalValue } } } } }"""


async def test_a_procurement_with_its_agency_items_and_contracts_is_one_round_trip(
    run: Run,
) -> None:
    """Level by level: the procurement, its agency, its items and their count, its
    contracts; in one statement, one."""
    pk = await run.db.fetchval(
        "SELECT procurement_id FROM items GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    data = await run.data(DETAIL, id=encode_id("Procurement", pk))
    assert data["node"]["items"]["nodes"] and data["node"]["agency"]["name"]
    assert await run.round_trips(DETAIL, id=encode_id("Procurement", pk)) == 1


ALIASES = """query Two($a: ID!, $b: ID!, $c: ID!) {
  a: node(id: $a) { ...N ... on Contract { number supplier { name } } ... on Agency { name } }
  b: node(id: $b) { ...N ... on Contract { number } ... on Agency { cnpj } }
  wrong: node(id: $c) { __typename ... on Agency { name contracts(first: 1) { totalCount } } }
  contracts(first: 2) { nodes { id } }
}
fragment N on Node { __typename id }"""


async def test_aliased_nodes_and_a_page_beside_them_in_one_statement(run: Run) -> None:
    """Fragments on Node and on each type, a fragment of another type (nothing of it
    selected: `{}`), and a root page, together."""
    ids = {
        "a": encode_id("Contract", 1),
        "b": encode_id("Agency", 1),
        "c": encode_id("Contract", 2),
    }
    before = compiled_fields("statement"), compiled_fields("levels")
    data = await run.data(ALIASES, **ids)
    assert data["a"]["number"] and data["b"]["cnpj"] and data["wrong"] == {"__typename": "Contract"}
    assert await run.round_trips(ALIASES, **ids) == 1
    assert compiled_fields("statement") - before[0] >= 4 * 5  # four root fields, five runs
    assert compiled_fields("levels") == before[1]


async def test_a_node_with_nothing_selected_of_its_type_is_an_empty_object(run: Run) -> None:
    query = """{ node(id: "Q29udHJhY3Q6MQ==") { ... on Agency { name } }
      none: node(id: "QWdlbmN5OjEwMDAwMDAwMDA=") { ... on Agency { name } } }"""
    before = compiled_fields("levels")
    assert await run.data(query) == {"node": {}, "none": None}  # both paths, byte for byte
    assert await run.round_trips(query) == 1
    assert compiled_fields("levels") == before


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "given", ["not-an-id", _b64("Contract:01"), _b64("Nothing:1"), _b64("Contract:-1")]
)
async def test_ids_that_do_not_decode_answer_as_the_ordinary_path(run: Run, given: str) -> None:
    """INVALID_ID, with its path, and the rest of the operation answered (the fallback)."""
    query = """query Bad($id: ID!) { ok: node(id: "QWdlbmN5OjE=") { id }
      node(id: $id) { id } }"""
    before = execution_paths("fallback")
    result = await run(query, id=given)  # both paths, byte for byte
    assert execution_paths("fallback") - before == 1
    assert result.errors[0].formatted["extensions"]["code"] == "INVALID_ID"
    assert result.errors[0].formatted["path"] == ["node"]
    assert result.data == {"ok": {"id": "QWdlbmN5OjE="}, "node": None}


async def test_a_type_selection_with_a_resolver_runs_level_by_level(run: Run) -> None:
    """Supplier.totals has a resolver of its own: a Supplier's ID runs by the levels; a
    Contract's, with the same document, is one statement."""
    query = """query T($id: ID!) { node(id: $id) { id ... on Supplier { totals { contractCount } }
      ... on Contract { number } } }"""
    before = compiled_fields("levels"), compiled_fields("statement")
    await run.data(query, id=encode_id("Supplier", 1))
    assert (compiled_fields("levels") - before[0], compiled_fields("statement") - before[1]) == (
        1,
        0,
    )
    await run.data(query, id=encode_id("Contract", 1))
    assert (compiled_fields("levels") - before[0], compiled_fields("statement") - before[1]) == (
        1,
        1,
    )


async def test_with_the_field_cache_nodes_go_through_the_cache_tiers(
    run: Run, settings: Settings, db: Database
) -> None:
    """The node's row is a row by id: with a cache policy for those, the levels load it
    through the tiers, as they load relations."""
    cache = TieredCache(replace(settings, cache_strategy="memory"), db, None)
    query = '{ node(id: "Q29udHJhY3Q6MQ==") { ... on Contract { number } } }'

    async def execute() -> Any:
        context = Context(db, settings, Loaders(db, cache), None, "test")
        return await run.schema.execute(query, context_value=context)

    before = compiled_fields("levels"), compiled_fields("statement")
    result = await execute()
    assert (compiled_fields("levels") - before[0], compiled_fields("statement") - before[1]) == (
        1,
        0,
    )
    assert answer_bytes(result) == answer_bytes(await run.execute(query, {}, compiled=False))
    assert len(cache.l1) > 0
    assert orjson.dumps(result.data).startswith(b'{"node":{"number":')


async def test_a_node_whose_type_has_a_resolver_leaves_only_itself_to_the_levels(
    run: Run,
) -> None:
    """Supplier.totals has a resolver: that node runs by the levels, the nodes and the page
    beside it still in one statement, byte for byte as the ordinary path answers."""
    query = """query T($s: ID!, $c: ID!) {
      s: node(id: $s) { id ... on Supplier { name totals { contractCount } } }
      c: node(id: $c) { ...N ... on Contract { number supplier { name } } }
      contracts(first: 2) { nodes { id } } }
    fragment N on Node { __typename id }"""
    ids = {"s": encode_id("Supplier", 1), "c": encode_id("Contract", 1)}
    before = compiled_fields("levels"), compiled_fields("statement")
    data = await run.data(query, **ids)  # both paths, byte for byte
    assert data["s"]["totals"] is not None and data["c"]["number"]
    assert (compiled_fields("levels") - before[0], compiled_fields("statement") - before[1]) == (
        1,
        2,
    )
    # the statement, then the supplier and its totals by the levels
    assert await run.round_trips(query, **ids) == 3


SANCTIONED = """query S($id: ID!) { node(id: $id) { ... on Sanction { register
  supplier { id name document } } } }"""


async def test_a_sanctions_supplier_is_joined_by_its_document(run: Run) -> None:
    """Sanction.supplier is one row by a unique column (suppliers.document), not by id: in
    the statement, joined on it, for a known supplier and an unknown one (null)."""
    known = await run.db.fetchval(
        "SELECT max(s.id) FROM sanctions s JOIN suppliers p ON p.document = s.supplier_document"
    )
    unknown = await run.db.fetchval(  # (removed below: the data is the other tests' too)
        """INSERT INTO sanctions (supplier_document, register, starts_on, authority)
           VALUES ('00000000000', 'CEIS', date '2020-01-01', 'test') RETURNING id"""
    )
    before = compiled_fields("levels"), compiled_fields("statement")
    try:
        for pk, found in ((known, True), (unknown, False)):
            data = await run.data(SANCTIONED, id=encode_id("Sanction", pk))  # byte for byte
            assert (data["node"]["supplier"] is not None) == found
            assert await run.round_trips(SANCTIONED, id=encode_id("Sanction", pk)) == 1
    finally:
        await run.db.execute("DELETE FROM sanctions WHERE id = $1", unknown)
    assert compiled_fields("levels") == before[0]
    assert compiled_fields("statement") > before[1]


async def test_a_page_of_sanctions_with_their_suppliers_is_one_statement(run: Run) -> None:
    """The join by document in a root page too; the page whose suppliers' totals have a
    resolver runs by the levels, alone."""
    query = """{ sanctions(first: 20) { totalCount nodes { id supplierDocument
      supplier { name totals { contractCount } } } }
      recent: sanctions(first: 5) { nodes { register supplier { id name } } } }"""
    before = compiled_fields("levels"), compiled_fields("statement")
    data = await run.data(query)  # both paths, byte for byte
    assert len(data["recent"]["nodes"]) == min(5, data["sanctions"]["totalCount"]) > 0
    assert compiled_fields("levels") - before[0] == 1  # totals has a resolver
    assert compiled_fields("statement") - before[1] == 1


SANCTIONS = """query S($id: ID!) { node(id: $id) { ... on Supplier { name
  sanctions { __typename id register startsOn supplier { id document } } } } }"""


async def test_a_suppliers_sanctions_are_a_list_in_the_statement(run: Run) -> None:
    """Supplier.sanctions, the rows of its document (the first five by id), in the one
    statement: for a supplier with more than five, with one, and with none; and in a page
    of suppliers, each its own list."""
    document = await run.db.fetchval(
        "SELECT p.document FROM suppliers p WHERE EXISTS"
        " (SELECT FROM sanctions s WHERE s.supplier_document = p.document) ORDER BY p.id LIMIT 1"
    )
    many = await run.db.fetch(  # (removed below: the data is the other tests' too)
        """INSERT INTO sanctions (supplier_document, register, starts_on, authority)
           SELECT $1, 'CNEP', date '2021-01-01' + n, 'test' FROM generate_series(1, 6) n
           RETURNING id""",
        document,
    )
    sanctioned = await run.db.fetchval("SELECT id FROM suppliers WHERE document = $1", document)
    clean = await run.db.fetchval(
        "SELECT min(p.id) FROM suppliers p WHERE NOT EXISTS"
        " (SELECT FROM sanctions s WHERE s.supplier_document = p.document)"
    )
    page = """{ suppliers(first: 30, orderBy: {field: NAME, direction: ASC}) { nodes { id
      sanctions { register supplier { name } } } } }"""
    before = compiled_fields("levels"), compiled_fields("statement")
    try:
        shown = await run.data(SANCTIONS, id=encode_id("Supplier", sanctioned))  # byte for byte
        assert len(shown["node"]["sanctions"]) == 5
        none = await run.data(SANCTIONS, id=encode_id("Supplier", clean))
        assert none["node"]["sanctions"] == []
        assert await run.round_trips(SANCTIONS, id=encode_id("Supplier", sanctioned)) == 1
        await run.data(page)
        assert await run.round_trips(page) == 1
    finally:
        await run.db.execute(
            "DELETE FROM sanctions WHERE id = any($1::bigint[])", [r["id"] for r in many]
        )
    assert compiled_fields("levels") == before[0]
    assert compiled_fields("statement") > before[1]


async def test_a_node_is_a_row_left_joined_not_aggregated(run: Run, monkeypatch: Any) -> None:
    """The row by its id, or none (`null`), without an aggregate over it (max, sum): the
    answers are the ordinary path's, found and missing."""
    sent = statements_sent(monkeypatch, run.db)
    found = await _some_id(run, "contracts")
    query = """query N($a: ID!, $b: ID!) { a: node(id: $a) { id ... on Contract { number
      supplier { name } } } b: node(id: $b) { id } }"""
    data = await run.data(
        query, a=encode_id("Contract", found), b=encode_id("Contract", found + 10**9)
    )
    assert data["a"]["id"] == encode_id("Contract", found) and data["b"] is None
    (text,) = [t for t, _ in sent if "convert_to" in t]
    assert "LEFT JOIN (SELECT" in text and "max(" not in text and "sum(" not in text
