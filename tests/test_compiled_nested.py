"""Nested pages filtered and ordered (issue 16), every one the schema offers (generated
from it: tests/nested_pages.py), on the compiled path in one statement and byte for byte
what the ordinary path answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cidadao_gql.schema.strawberry_internals import graphql_schema
from tests import nested_pages
from tests.conftest import Run, answer_bytes, compiled_fields
from tests.filter_plans import SCANS, Recording


def test_the_nested_pages_cover_every_filter_ordering_and_direction(run: Run) -> None:
    schema = graphql_schema(run.schema)
    found = [page for page, _ in nested_pages.pages(schema)]
    lists = {(p.parent, p.field) for p in found}
    assert lists == {("agencies", "contracts"), ("agencies", "procurements"),
                     ("suppliers", "contracts"), ("procurements", "contracts")}  # fmt: skip
    # 16 filter fields of contracts and 14 of procurements, 2 orderings, 2 directions, 2 ways
    assert len(found) == (3 * 16 + 14) * 2 * 2 * 2


async def test_every_nested_filtered_page_runs_in_one_statement(run: Run) -> None:
    assert await nested_pages.differences(run) == ([], [])


@pytest.mark.parametrize("backward", [False, True])
async def test_a_filtered_nested_page_is_one_round_trip(run: Run, backward: bool) -> None:
    size = "last: 2" if backward else "first: 2"
    query = f"""{{ agencies(first: 3) {{ nodes {{ name contracts({size}, filter:
      {{modality: DISPENSA}}, orderBy: {{field: VALUE, direction: DESC}}) {{ totalCount
      nodes {{ number supplier {{ name }} }} }} }} }} }}"""
    assert await run.round_trips(query) == 1


@pytest.mark.parametrize("named", ["sphere", "supplierDocument", "search"])
async def test_a_nested_filter_naming_other_rows_or_words_runs_on_the_levels(
    run: Run, named: str
) -> None:
    """Rows named by a key of theirs (an agency's sphere, a supplier's document) are looked
    up first by the levels (sql._resolve_keys), and a search's matches counted: read per
    parent in the statement, the largest suppliers' contracts in municipal agencies read
    1,087,822 rows on 1,000,000 contracts, the levels 430; the largest agencies' contracts
    matching two words took 520 ms, the levels 7 (sources.per_parent)."""
    parent = "suppliers" if named == "sphere" else "agencies"
    values = {"sphere": "MUNICIPAL", "search": '"material de consumo"'}
    value = values.get(named) or (await nested_pages.strings(run.db))[named]
    query = f"""{{ {parent}(first: 3) {{ nodes {{ id contracts(first: 2, filter: {{{named}: {value}}},
      orderBy: {{field: VALUE, direction: DESC}}) {{ totalCount nodes {{ id }} }} }} }} }}"""
    levels = compiled_fields("levels")
    compiled = await run.execute(query, {})
    assert compiled_fields("levels") == levels + 1
    assert answer_bytes(compiled) == answer_bytes(await run.execute(query, {}, compiled=False))


def _contracts_read(node: dict[str, Any]) -> int:
    """Rows and index entries of contracts the scans of a plan (EXPLAIN ANALYZE) read."""
    own = 0
    read = node.get("Relation Name") or node.get("Index Name", "")  # (bitmaps: the index)
    if node["Node Type"] in SCANS and read.startswith("contracts"):
        own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        own *= node.get("Actual Loops", 1)
    return own + sum(_contracts_read(child) for child in node.get("Plans", ()))


@pytest.mark.parametrize("ordering", ["VALUE", "SIGNED_ON"])
async def test_an_agencys_page_in_one_modality_is_a_range_of_one_index(
    run: Run, ordering: str
) -> None:
    """Issue 16: direct purchases are the small contracts by law, so the largest agencies'
    largest ones, walked along (agency, value), passed every larger contract first (3,797
    rows each for 4 on 1,000,000 contracts). An index (agency, modality, ordering, id)
    (migration 0022) makes each agency's page a range as long as the page: the statement
    reads at most the page and one more row per agency, and its count a range as well."""
    query = f"""{{ agencies(first: 4, orderBy: {{field: TOTAL_VALUE, direction: DESC}}) {{
      nodes {{ id contracts(first: 2, filter: {{modality: DISPENSA}}, orderBy: {{field:
      {ordering}, direction: DESC}}) {{ nodes {{ id finalValue }} }} }} }} }}"""
    recording = Recording(run.db)
    await Run(run.schema, recording, run.settings).data(query)
    (text, args), *_ = [s for s in recording.sent if s[0].startswith("SELECT convert_to(")]
    assert "UNION ALL" not in text  # no choice per parent: the index serves the filter
    explained = await run.db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}", *args)
    assert _contracts_read(json.loads(explained)[0]["Plan"]) <= 4 * (2 + 1)
