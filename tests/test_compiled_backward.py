"""Pages backwards (`last`/`before`) in the compiled executor's one statement (tree.py): the
forward page of the reverse ordering, its rows shown the other way round. Every answer here
is the ordinary executor's byte for byte (the `run` fixture runs both), and a page backwards
takes the path its page forwards takes: one statement wherever that one does, at the root and
below, with edges and cursors, pageInfo, totalCount, ties in the ordering, empty pages, the
page before the first row and orderings other than the default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cidadao_gql.data.db import Database
from tests.conftest import Run, compiled_fields, execution_paths, statements_sent

INFO = "pageInfo { hasPreviousPage hasNextPage startCursor endCursor }"
# Every root list (spending pages forwards only), the fields its rows are read by.
ROOTS = {
    "agencies": "id name uf",
    "suppliers": "id name document",
    "procurements": "id year estimatedTotal publishedAt",
    "contracts": "id number finalValue signedOn",
    "sanctions": "id register startsOn",
    "items": "id number estimatedUnitPrice",
    "awards": "id sequence unitPrice",
    "unitPrices": "catalogCode unit awardCount median",
}


def _list(name: str, fields: str, arguments: str) -> str:
    declared = "($before: String)" if "$before" in arguments else ""
    return (
        f"query L{declared} {{ {name}({arguments}) {{ totalCount {INFO}"
        f" edges {{ cursor node {{ {fields} }} }} nodes {{ {fields.split()[0]} }} }} }}"
    )


def _ways() -> dict[str, float]:
    """Root fields run so far in one statement, level by level, fallen back."""
    return {"statement": compiled_fields("statement"), "levels": compiled_fields("levels"),
            "fallback": execution_paths("fallback")}  # fmt: skip


async def _ran(run: Run, query: str, **variables: Any) -> tuple[Any, dict[str, float]]:
    """The answer (both paths, byte for byte) and how its compiled run went."""
    before = _ways()
    data = await run.data(query, **variables)
    after = _ways()
    return data, {way: after[way] - before[way] for way in after}


def _page(data: dict[str, Any]) -> Any:
    (page,) = data.values()
    return page


@pytest.mark.parametrize("name", sorted(ROOTS))
async def test_every_root_list_pages_backwards_as_it_pages_forwards(run: Run, name: str) -> None:
    fields = ROOTS[name]
    _, forwards = await _ran(run, _list(name, fields, "first: 3"))
    query = _list(name, fields, "last: 3, before: $before")
    seen: list[str] = []
    cursor = None
    for _ in range(3):  # the last page, and two before it
        data, ways = await _ran(run, query, before=cursor)
        assert ways == forwards, (name, ways)  # the same path, no fallback
        page = _page(data)
        info, cursors = page["pageInfo"], [e["cursor"] for e in page["edges"]]
        assert info["hasNextPage"] is (cursor is not None)
        if not cursors:
            break
        assert (info["startCursor"], info["endCursor"]) == (cursors[0], cursors[-1])
        assert not set(cursors) & set(seen)
        seen = cursors + seen
        if not info["hasPreviousPage"]:
            break
        cursor = info["startCursor"]
    assert seen


async def test_root_lists_page_backwards_in_one_statement(run: Run) -> None:
    """Every root list that pages backwards is one statement either way."""
    for name in sorted(ROOTS):
        _, ways = await _ran(run, _list(name, ROOTS[name], "last: 2"))
        assert ways["statement"] == 1 and ways["levels"] == ways["fallback"] == 0, name
        assert await run.round_trips(_list(name, ROOTS[name], "last: 2")) == 1


BIGGEST = "orderBy: {field: TOTAL_VALUE, direction: ASC}"  # backwards: the biggest first
NESTED = {
    "agencies' contracts": """query N($before: String) { agencies(last: 4, BIGGEST) { nodes {
      name contracts(last: 3, before: $before) { totalCount PAGE edges { cursor node { id
      signedOn supplier { name } } } } } } }""",
    "suppliers' contracts by value": """query N($before: String) { suppliers(last: 4, BIGGEST) {
      nodes { contracts(last: 2, before: $before, orderBy: {field: VALUE, direction: ASC}) {
      PAGE nodes { finalValue } } } } }""",
    "agencies' procurements, ordered by value": """query N($before: String) {
      agencies(last: 3, BIGGEST) { PAGE nodes { name
      procurements(last: 2, before: $before, orderBy: {field: VALUE, direction: DESC}) {
      PAGE edges { cursor node { estimatedTotal items(last: 2) { totalCount PAGE
      nodes { number awards(last: 1) { PAGE nodes { sequence } } } } } } } } } }""",
    "suppliers' awards": """query N($before: String) { suppliers(last: 30, BIGGEST) { nodes {
      awards(last: 2, before: $before) { PAGE edges { cursor node { unitPrice } } } } } }""",
}


@pytest.mark.parametrize("name", sorted(NESTED))
async def test_pages_of_children_backwards_in_one_statement(run: Run, name: str) -> None:
    query = NESTED[name].replace("PAGE", INFO).replace("BIGGEST", BIGGEST)
    data, ways = await _ran(run, query, before=None)
    assert ways["statement"] == 1 and ways["levels"] == ways["fallback"] == 0, ways
    assert await run.round_trips(query, before=None) == 1
    pages = list(_pages(_page(data)["nodes"]))
    assert any(p["pageInfo"]["hasPreviousPage"] for p in pages)  # shapes that test something
    assert not any(p["pageInfo"]["hasNextPage"] for p in pages)  # no cursor: the list's end


def _pages(found: Any) -> Iterator[Any]:
    """Every page of children in an answer."""
    if isinstance(found, list):
        for value in found:
            yield from _pages(value)
    elif isinstance(found, dict):
        if "pageInfo" in found:
            yield found
        for value in found.values():
            yield from _pages(value)


async def test_ties_in_the_ordering_page_backwards_without_gaps(run: Run, db: Database) -> None:
    """Contracts signed on one day, paged backwards two at a time by the day and then the id,
    give what forwards gives: the ordinary path's rows, and its cursors between ties."""
    day = await db.fetchval(
        "SELECT signed_on::text FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    query = """query T($before: String, $after: String, $first: Int, $last: Int) {
      contracts(first: $first, after: $after, last: $last, before: $before,
      filter: {signedFrom: "DAY", signedTo: "DAY"}) {
      totalCount PAGE edges { cursor node { id signedOn } } } }"""
    query = query.replace("PAGE", INFO).replace("DAY", day)
    forwards: list[str] = []
    cursor = None
    while True:
        page = _page(await run.data(query, first=7, after=cursor))
        forwards += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    assert len(forwards) > 4  # ties enough to page through
    backwards: list[str] = []
    cursor = None
    while True:
        data, ways = await _ran(run, query, last=2, before=cursor)
        assert ways["statement"] == 1 and ways["levels"] == 0
        page = _page(data)
        backwards = [e["node"]["id"] for e in page["edges"]] + backwards
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        cursor = page["pageInfo"]["startCursor"]
    assert backwards == forwards


async def test_empty_pages_and_the_page_before_the_first_row(run: Run) -> None:
    query = _list("contracts", ROOTS["contracts"], "last: 5, before: $before, filter: FILTER")
    nothing = query.replace("FILTER", '{signedFrom: "2999-01-01"}')
    data, ways = await _ran(run, nothing, before=None)
    assert ways["statement"] == 1 and ways["fallback"] == 0
    assert _page(data) == {
        "totalCount": 0,
        "pageInfo": {
            "hasPreviousPage": False, "hasNextPage": False, "startCursor": None, "endCursor": None
        },
        "edges": [], "nodes": [],
    }  # fmt: skip
    every = query.replace(", filter: FILTER", "")
    first = _page(await run.data(every.replace("last: 5", "first: 2"), before=None))
    data, ways = await _ran(run, every, before=first["pageInfo"]["startCursor"])
    assert ways["statement"] == 1 and ways["fallback"] == 0
    page = _page(data)
    assert page["edges"] == [] and page["totalCount"] > 0
    assert page["pageInfo"] == {
        "hasPreviousPage": False, "hasNextPage": True, "startCursor": None, "endCursor": None
    }  # fmt: skip
    data, ways = await _ran(run, every, before=first["edges"][1]["cursor"])
    assert [e["cursor"] for e in _page(data)["edges"]] == [first["edges"][0]["cursor"]]


async def test_before_alone_is_a_page_of_twenty_backwards(run: Run) -> None:
    query = _list("suppliers", ROOTS["suppliers"], "before: $before")
    last = _page(await run.data(_list("suppliers", ROOTS["suppliers"], "last: 1")))
    data, ways = await _ran(run, query, before=last["pageInfo"]["endCursor"])
    assert ways["statement"] == 1 and ways["fallback"] == 0
    page = _page(data)
    assert len(page["edges"]) == 20 and page["pageInfo"]["hasNextPage"] is True


async def test_first_with_last_is_refused_on_both_paths(run: Run) -> None:
    query = _list("contracts", ROOTS["contracts"], "first: 2, last: 2, before: $before")
    error = await run.error(query, before=None)  # the ordinary path answers it
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


# Root pages whose filter the ordering's index does not serve: the data layer chooses their
# read first (compiled/sources.py), backwards as forwards.
UNSERVED = {
    "contracts": ('filter: {valueMin: "50000"}', ROOTS["contracts"]),
    "procurements": (
        "filter: {year: 2024}, orderBy: {field: VALUE, direction: DESC}",
        ROOTS["procurements"],
    ),
    "agencies": ("filter: {sphere: MUNICIPAL}, orderBy: {field: NAME, direction: ASC}", "id name"),
    "suppliers": ('filter: {search: "a"}, orderBy: {field: NAME, direction: DESC}', "id name"),
}


@pytest.mark.parametrize("name", sorted(UNSERVED))
async def test_filtered_pages_backwards_read_what_the_data_layer_chooses(
    run: Run, name: str
) -> None:
    given, fields = UNSERVED[name]
    _, forwards = await _ran(run, _list(name, fields, f"first: 3, {given}"))
    assert forwards["statement"] == 1 and forwards["levels"] == forwards["fallback"] == 0
    query = _list(name, fields, f"last: 3, before: $before, {given}")
    cursor, pages = None, 0
    while pages < 3:
        data, ways = await _ran(run, query, before=cursor)
        assert ways == forwards, (name, ways)
        page = _page(data)
        pages += 1
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        cursor = page["pageInfo"]["startCursor"]
    assert pages == 3


@pytest.mark.parametrize(
    ("info", "counted"),
    [
        ("hasPreviousPage hasNextPage", False),
        ("endCursor", False),  # backwards the last row shown is the one read first
        ("startCursor", True),
    ],
)
async def test_rows_are_counted_in_the_window_only_for_the_last_rows_cursor(
    run: Run, monkeypatch: Any, info: str, counted: bool
) -> None:
    """`count(*) OVER ()` keeps every row read until the last is: written only where the
    cursor of the last row shown needs it, and the answer is the ordinary path's."""
    sent = statements_sent(monkeypatch, run.db)
    await run.data(f"{{ contracts(last: 3) {{ pageInfo {{ {info} }} nodes {{ id }} }} }}")
    (text,) = [t for t, _ in sent if "convert_to" in t]
    assert "row_number() OVER" in text
    assert ("count(*) OVER ()" in text) is counted
