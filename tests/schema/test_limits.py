"""Depth, alias, token and cost limits, at their boundaries; timeouts; masking."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest
from graphql import execute_sync, get_introspection_query, parse, specified_rules, validate
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cidadao_gql.data.db import Database, open_database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.execution import costs
from cidadao_gql.execution.costs import CostAnalysis
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.cost_tables import LIST_SIZES
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.schema.strawberry_internals import graphql_schema
from cidadao_gql.settings import Settings
from tests.conftest import Run, connect
from tests.operations import selection

CYCLE = ["contracts(first: 1)", "nodes", "supplier", "contracts(first: 1)", "nodes", "agency"]


def chain(depth: int) -> list[str]:
    """Field names whose leaf sits at `depth` (root fields are at 0)."""
    names = [CYCLE[i % len(CYCLE)] for i in range(depth)]
    return [*names, "totalCount" if names and names[-1].startswith("contracts") else "id"]


def nest(fields: list[str]) -> str:
    head, *rest = fields
    return head if not rest else f"{head} {{ {nest(rest)} }}"


def deep_query(depth: int) -> str:
    return "{ " + nest(chain(depth)) + " }"


def deep_query_through_fragments(depth: int) -> str:
    """The same path, but from level 2 down inside a spread nested in an inline fragment,
    and the last levels inside a second named fragment."""
    fields = chain(depth)
    top, middle, bottom = fields[:2], fields[2:-3], fields[-3:]
    return (
        "{ " + nest([*top, "... on Contract { ...Middle }"]) + " }\n"
        "fragment Middle on Contract { " + nest([*middle, "...Bottom"]) + " }\n"
        "fragment Bottom on " + _type_at(len(top) + len(middle)) + " { " + nest(bottom) + " }"
    )


def _type_at(level: int) -> str:
    # The parent type of CYCLE[level % 6]: Query/Agency/Supplier before `contracts`,
    # a connection before `nodes`, a Contract before `supplier`/`agency`.
    return {
        0: "Agency",
        1: "ContractConnection",
        2: "Contract",
        3: "Supplier",
        4: "ContractConnection",
        5: "Contract",
    }[level % 6]


@pytest.mark.parametrize("build", [deep_query, deep_query_through_fragments])
async def test_depth_ten_passes_and_eleven_fails(run: Run, build: Any) -> None:
    await run.data(build(10))
    before = await run.db.round_trips.settled()
    error = await run.error(build(11))
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "depth": 11, "maxDepth": 10}
    assert await run.db.round_trips.settled() == before


async def test_depth_limit_is_configurable(settings: Settings, db: Database) -> None:
    shallow = Run(build_schema(replace(settings, max_query_depth=3)), db, settings)
    await shallow.data(deep_query(3))
    assert (await shallow.error(deep_query(4)))["extensions"]["maxDepth"] == 3


GRAPHIQL_INTROSPECTION = get_introspection_query(  # the options GraphiQL 3 and 4 send
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)
TYPES_AND_ARGUMENTS = "fragment T on __Type { name fields { name args { name type { name } } } }"


def unscaled_price(schema: Any, text: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """What `text`'s introspection would cost at one point per object."""
    with monkeypatch.context() as patched:
        patched.setattr(costs, "INTROSPECTION_SCALE", 1)
        return CostAnalysis(graphql_schema(schema), parse(text), None, None).requested()


async def test_introspection_is_priced_at_what_it_answers(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GraphiQL's introspection query is priced exactly, at a fifth of a point per object:
    under a quarter of the default limit of 1000, so a schema twice as large still loads
    its docs with half the limit to spare; depth alone costs nothing where the answer is null (`ofType` of a named
    type), and what introspection answers in bulk is refused by cost before it is answered."""
    result = await run(GRAPHIQL_INTROSPECTION)
    assert result.errors is None
    cost = result.extensions["cost"]
    assert cost["requestedQueryCost"] == cost["actualQueryCost"]
    unscaled = unscaled_price(run.schema, GRAPHIQL_INTROSPECTION, monkeypatch)
    assert cost["requestedQueryCost"] == -(-unscaled // costs.INTROSPECTION_SCALE)
    assert 2 * cost["requestedQueryCost"] < 1000 // 2  # twice the schema, half the limit
    # graphql-core's parser refuses nesting past ~190 levels; aliases multiply the rest.
    one = '__type(name: "Contract") { ' + "ofType { " * 150 + "name" + " }" * 151
    deep_type = "{ " + " ".join(f"t{i}: {one}" for i in range(7)) + " }"
    wide_open = Run(build_schema(replace(run.settings, max_tokens=100_000)), run.db, run.settings)
    deep = await wide_open(deep_type)
    assert deep.errors is None
    assert deep.extensions["cost"]["requestedQueryCost"] == 7  # 7 types, a point each; ofType null
    every_argument = "{ __schema { types { ...T } } } " + TYPES_AND_ARGUMENTS
    once = await run(every_argument)
    unscaled = unscaled_price(run.schema, every_argument, monkeypatch)
    assert once.extensions["cost"]["requestedQueryCost"] == -(
        -unscaled // costs.INTROSPECTION_SCALE
    )
    four = " ".join(f"s{i}: __schema {{ types {{ ...T }} }}" for i in range(4))
    error = await run.error("{ " + four + " } " + TYPES_AND_ARGUMENTS)
    # Refused before pricing would run them: a document asks for `__schema` once.
    assert error["extensions"]["code"] == "TOO_MANY_FIELDS"
    assert error["extensions"]["schemaFields"] == 4


# Two levels of fields below every type: the introspection a bulk reader would send.
FIELDS_OF_FIELDS = """fragment T on __Type { name kind description fields { name description
  args { name description type { name kind ofType { name kind } } }
  type { name kind ofType { name kind fields { name description
    args { name description type { name kind ofType { name kind } } }
    type { name kind ofType { name kind } } } } } } }"""


@pytest.mark.parametrize("copies", [25, 29])
async def test_bulk_introspection_is_refused(run: Run, copies: int) -> None:
    """Every type's fields' types' fields, and the root type's `copies` times over (aliases
    of `__type`): refused by cost before anything is answered, whether its price passes
    the limit (25 copies: some 19,400 fields resolved) or its pricing stops at INTROSPECTION_WORK
    resolutions (29 copies) and the price is the ceiling."""
    aliases = " ".join(f'q{i}: __type(name: "Query") {{ ...T }}' for i in range(copies))
    error = await run.error("{ __schema { types { ...T } } " + aliases + " } " + FIELDS_OF_FIELDS)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"] == 1000
    if copies == 29:
        assert error["extensions"]["cost"] == costs.COST_CEILING


COST_1000 = """query($m: Int!, $n: Int!) {
  agencies(first: $m) { totalCount nodes { contracts(first: $n) { nodes { supplier { id } } } } }
}"""
# agencies 1 + totalCount 10 + its 61 rows 13 (a point per 5, rounded up per page)
# + m × (contracts 1 + its n rows ⌈n/5⌉ + n × supplier 0) = 24 + 61 × (1 + 15) = 1000
# for m = 61, n = 75; `viewer` adds exactly one point.
DEFAULTS_115 = "agencies { totalCount nodes { contracts { nodes { supplier { id } } } } }"
# the same with both defaults, 20: 1 + 10 + 4 + 20 × (1 + 4) = 115; with `x: agencies(first:
# 46) { nodes { contracts(first: 90) ... } }` (1 + 10 + 46 × (1 + 18) = 885): 1000.


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (
            "{ agencies(first: 61) { totalCount nodes { contracts(first: 75) { nodes { supplier { id } } } } } %s}",
            {},
        ),
        (COST_1000.replace("}\n}", "} %s\n}"), {"m": 61, "n": 75}),
        (
            "query($m: Int = 61, $n: Int = 75) { agencies(first: $m) { totalCount nodes {"
            " contracts(first: $n) { nodes { supplier { id } } } } } %s}",
            {},
        ),
        (
            "{ " + DEFAULTS_115 + " x: agencies(first: 46) { nodes { contracts(first: 90) {"
            " nodes { supplier { id } } } } } %s}",
            {},
        ),
    ],
    ids=["literal", "variable", "variable default", "argument default"],
)
async def test_cost_at_the_limit_passes_and_one_over_fails(
    run: Run, query: str, variables: dict[str, Any]
) -> None:
    at_limit = await run(query % "", **variables)
    assert at_limit.errors is None, at_limit.errors
    assert at_limit.extensions["cost"]["requestedQueryCost"] == 1000
    before = await run.db.round_trips.settled()
    error = await run.error(query % "viewer { id } ", **variables)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 1001, "maxCost": 1000}
    assert "lower `first` on the largest lists" in error["message"]  # what to change
    assert await run.db.round_trips.settled() == before  # refused without touching the database


DATED = "query($d: Date!) { contracts(first: 1, filter: {signedFrom: $d}) { totalCount } }"


@pytest.mark.parametrize("written", ["01/09/2024", "2024-13-01", "ontem", ""])
async def test_a_date_in_another_form_is_refused_saying_the_form(run: Run, written: str) -> None:
    """A Brazilian "01/09/2024" met Python's "Invalid isoformat string"."""
    literal = f'{{ contracts(first: 1, filter: {{signedFrom: "{written}"}}) {{ totalCount }} }}'
    for error in [await run.error(DATED, d=written), await run.error(literal)]:
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert "YYYY-MM-DD" in error["message"] and "isoformat" not in error["message"], error


async def test_actual_cost_counts_what_came_back(run: Run, db: Database) -> None:
    row = await db.fetchrow(
        "SELECT agency_id, count(*) AS n FROM contracts GROUP BY 1 HAVING count(*) < 50 ORDER BY 2 DESC LIMIT 1"
    )
    assert row is not None
    agency, count = row["agency_id"], row["n"]
    result = await run(
        "query($a: ID) { contracts(first: 50, filter: {agency: $a}) { nodes { supplier { id } } } }",
        a=encode_id("Agency", agency),
    )
    cost = result.extensions["cost"]
    # contracts 1 + nodes 0 + a point per 5 rows (the supplier by key rides on them)
    assert cost["requestedQueryCost"] == 1 + 50 // 5
    assert cost["actualQueryCost"] == 1 + -(-count // 5)


async def test_duplicated_fields_merge_and_aliases_add_up(run: Run) -> None:
    one = await run("{ contracts(first: 10) { nodes { agency { id } } } }")
    twice = await run(
        "{ contracts(first: 10) { nodes { agency { id } } } contracts(first: 10) { nodes { agency { id } } } }"
    )
    aliased = await run(
        "{ a: contracts(first: 10) { nodes { agency { id } } } b: contracts(first: 10) { nodes { agency { id } } } }"
    )
    single = one.extensions["cost"]["requestedQueryCost"]
    assert twice.extensions["cost"]["requestedQueryCost"] == single
    assert aliased.extensions["cost"]["requestedQueryCost"] == 2 * single


async def test_text_search_and_aggregates_weigh_more(run: Run) -> None:
    plain = await run("{ contracts(first: 1) { nodes { id } } }")
    searched = await run('{ contracts(first: 1, filter: {search: "diesel"}) { nodes { id } } }')
    spending = await run("{ spending(groupBy: UF, first: 1) { nodes { key } } }")
    assert (
        searched.extensions["cost"]["requestedQueryCost"]
        == plain.extensions["cost"]["requestedQueryCost"] + 10
    )
    assert spending.extensions["cost"]["requestedQueryCost"] == 25 + 1  # a point per 5 groups, up


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(count)) + " }"


async def test_thirty_aliases_pass_and_thirty_one_fail(run: Run) -> None:
    await run.data(aliases(30))
    error = await run.error(aliases(31))
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES", "aliases": 31, "maxAliases": 30}


async def test_token_limit_stops_a_query_bomb(run: Run) -> None:
    bomb = "{ " + "viewer { id } " * 700 + "}"
    error = await run.error(bomb)
    assert error["extensions"]["code"] == "TOO_MANY_TOKENS"


async def test_every_response_carries_its_cost(run: Run) -> None:
    ok = await run("{ viewer { id } }")
    invalid = await run("{ nonsense }")
    assert ok.extensions["cost"] == {
        "requestedQueryCost": 1,
        "actualQueryCost": 0,
        "throttleStatus": None,
    }
    assert invalid.extensions["cost"]["requestedQueryCost"] == 0


async def test_a_slow_operation_times_out_and_its_statement_is_cancelled(
    settings: Settings, db: Database
) -> None:
    assert settings.database_url
    hurried = Run(build_schema(replace(settings, query_timeout_ms=300)), db, settings)
    async with connect(settings.database_url) as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
        error = await hurried.error("{ sanctions(first: 1) { nodes { id } } }")
        # The statement waits on our lock for as long as we hold it, unless it was
        # cancelled: wait for it to be gone (the cancel request takes a moment to land).
        for _ in range(500):
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'cidadao-gql%' AND state = 'active'"
                " AND query LIKE '%sanctions%'"
            )
            if waiting == 0:
                break
            await asyncio.sleep(0.02)
    assert error["extensions"] == {"code": "TIMEOUT", "timeoutMs": 300}
    assert waiting == 0, "the statement was not cancelled: it still waits on the lock"


async def test_statement_timeout_is_a_timeout_too(settings: Settings) -> None:
    assert settings.database_url
    strict = replace(settings, db_statement_timeout_ms=200)
    async with (
        open_database(strict) as db,
        connect(settings.database_url) as blocker,
        blocker.transaction(),
    ):
        await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
        error = await Run(build_schema(strict), db, strict).error(
            "{ sanctions(first: 1) { nodes { id } } }"
        )
    assert error["extensions"] == {"code": "TIMEOUT"}
    assert "statement" in error["message"]


async def test_internal_errors_are_masked_and_logged_with_the_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_database(settings) as closed:
        pass  # the pool is closed now: any query fails inside the driver
    schema = build_schema(settings)
    context = Context(closed, settings, Loaders(closed), None, "req-42")
    with caplog.at_level(logging.ERROR, logger="cidadao_gql.errors"):
        result = await schema.execute(
            "{ contracts(first: 1) { nodes { id } } }", context_value=context
        )
    assert result.errors is not None
    (error,) = [e.formatted for e in result.errors]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "pool" not in str(error) and "SELECT" not in str(error)
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(data=st.data(), compiled=st.booleans())
async def test_generated_operations_never_cost_more_than_requested(
    run: Run, data: st.DataObject, compiled: bool
) -> None:
    """Over the seeded database, on either path: what an answer actually cost never
    exceeds the price asked before it ran (every list is priced by its size)."""
    root = graphql_schema(run.schema).query_type
    assert root is not None
    query = "query Generated { " + data.draw(selection(root, 1)) + " }"
    result = await run.execute(query, {}, compiled=compiled)
    cost = result.extensions["cost"]
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"], query


async def test_the_readme_numbers_hold(run: Run, db: Database) -> None:
    """README's worked example (31 requested; actual 1 + 10 + 10 + a point per 5 matches) and
    GraphiQL's introspection query under a quarter of the limit."""
    result = await run(
        """{ contracts(first: 50, filter: {search: "diesel"}) {
             totalCount edges { node { number supplier { name } } } } }"""
    )
    cost = result.extensions["cost"]
    matched = min(result.data["contracts"]["totalCount"], 50)
    assert cost["requestedQueryCost"] == 31
    assert cost["actualQueryCost"] == 1 + 10 + 10 + -(-matched // 5)
    introspection = await run(GRAPHIQL_INTROSPECTION)
    assert introspection.extensions["cost"]["requestedQueryCost"] < 1000 // 4


async def test_sanctions_stop_at_their_assumed_size(run: Run, db: Database) -> None:
    """`Supplier.sanctions` has no size argument and is priced at its assumed size: a
    supplier with more gets the first ones, so the price stays an upper bound."""
    document = await db.fetchval("SELECT supplier_document FROM sanctions ORDER BY id LIMIT 1")
    added = await db.fetch(
        """INSERT INTO sanctions (supplier_document, register, starts_on, authority)
           SELECT $1, 'CEIS', date '2020-01-01' + n, 'test' FROM generate_series(1, 12) n
           RETURNING id""",
        document,
    )
    try:
        result = await run(
            """query($d: String) { suppliers(first: 1, filter: {document: $d}) {
                 nodes { sanctions { id supplier { id } } } } }""",
            d=document,
        )
    finally:
        await db.execute(
            "DELETE FROM sanctions WHERE id = any($1::bigint[])", [r["id"] for r in added]
        )
    assert result.errors is None, result.errors
    (supplier,) = result.data["suppliers"]["nodes"]
    shown = LIST_SIZES["Supplier.sanctions"]
    assert len(supplier["sanctions"]) == shown < 12
    cost = result.extensions["cost"]
    # suppliers 1 + its row 1 + 1 × (sanctions 1 + its rows, a point per 5; supplier 0)
    assert cost["requestedQueryCost"] == 1 + 1 + 1 * (1 + -(-shown // 5))
    assert cost["actualQueryCost"] == cost["requestedQueryCost"]


async def test_a_price_past_what_json_holds_is_refused_at_the_ceiling(run: Run) -> None:
    """Three lists of `first: 2147483647` are 2^93 points: reported at 2^53 - 1 (an integer
    every JSON reader holds), refused, never an internal error while encoding it."""
    huge = "{ agencies(first: $n) { nodes { contracts(first: $n) { nodes { procurement {" \
        " items(first: $n) { nodes { id } } } } } } } }"  # fmt: skip
    error = await run.error(f"query($n: Int!) {huge}", n=2**31 - 1)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 2**53 - 1, "maxCost": 1000}


# -- introspection: the price is an upper bound of what it answers ----------------------

TYPE_FIELDS = ["name", "kind", "description", "specifiedByURL"]


def type_selection(depth: int) -> st.SearchStrategy[str]:
    """A selection of __Type: scalars, and (while `depth` lasts) its lists and ofType."""
    leaves = st.sampled_from(TYPE_FIELDS)
    if depth == 0:
        return leaves
    inner = type_selection(depth - 1)
    value = st.builds(
        lambda fields: f"{{ {' '.join(fields)} }}", st.lists(inner, min_size=1, max_size=3)
    )
    input_value = st.builds(lambda t: f"{{ name defaultValue type {t} }}", value)
    field = st.builds(lambda a, t: f"{{ name isDeprecated args {a} type {t} }}", input_value, value)
    return st.one_of(
        leaves,
        value.map(lambda v: f"ofType {v}"),
        value.map(lambda v: f"interfaces {v}"),
        value.map(lambda v: f"possibleTypes {v}"),
        field.map(lambda f: f"fields(includeDeprecated: true) {f}"),
        input_value.map(lambda v: f"inputFields {v}"),
        st.just("enumValues(includeDeprecated: true) { name isDeprecated }"),
    )


@st.composite
def introspection_document(draw: st.DrawFn) -> str:
    types = draw(st.lists(type_selection(3), min_size=1, max_size=4))
    body = " ".join(types)
    root = draw(
        st.sampled_from(
            [
                f"__schema {{ types {{ {body} }} }}",
                f"__schema {{ queryType {{ {body} }} directives {{ name args {{ name }} }} }}",
                f'__type(name: "Contract") {{ {body} }}',
                f'__type(name: "ContractFilter") {{ {body} }}',
                f'__type(name: "Nope") {{ {body} }}',
            ]
        )
    )
    return f"{{ {root} __typename }}"


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(text=introspection_document())
def test_introspection_costs_at_most_its_price(schema: Any, text: str) -> None:
    """Introspection documents graphql-core's rules accept (its introspection depth rule
    included) answer at most what they were priced at, through the whole schema."""
    document = parse(text)
    if validate(graphql_schema(schema), document, specified_rules):
        return
    analysis = CostAnalysis(graphql_schema(schema), document, None, None)
    result = execute_sync(graphql_schema(schema), document)
    assert result.errors is None
    assert analysis.actual(result.data) <= analysis.requested()
