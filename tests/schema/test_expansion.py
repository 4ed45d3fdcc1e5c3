"""Documents whose fragments multiply what they select: refused with TOO_MANY_FIELDS over
real HTTP, with the worker free for the next request; and the work every analysis of a
document does, counted (Python calls made, not time taken), linear in its length."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    Visitor,
    parse,
    specified_rules,
    validate,
    visit,
)
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cidadao_gql.app import create_app
from cidadao_gql.schema.costs import CostAnalysis
from cidadao_gql.schema.expansion import SATURATED, Expansion
from cidadao_gql.schema.limits import alias_limit, depth_limit, field_limit
from cidadao_gql.settings import Settings
from tests.conftest import Run, live_server

GRAPHQL_RESPONSE = "application/graphql-response+json"


def chain(levels: int, body: Callable[[int], str], leaf: str = "__typename") -> str:
    """`query { ...F0 }`, each fragment spreading the next (twice, or through two paths),
    down to F<levels> selecting `leaf`."""
    fragments = " ".join(body(i) for i in range(levels))
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ {leaf} }}"


def nested_chain(levels: int) -> str:
    """The same doubling through two aliased fields of a list at every level."""
    fragments = " ".join(
        f"fragment F{i} on ContractConnection {{ nodes {{ supplier {{"
        f" a: contracts(first: 1) {{ ...F{i + 1} }} b: contracts(first: 1) {{ ...F{i + 1} }}"
        f" }} }} }}"
        for i in range(levels)
    )
    return (
        f"query {{ contracts(first: 1) {{ ...F0 }} }} {fragments}"
        f" fragment F{levels} on ContractConnection {{ totalCount }}"
    )


VARIANTS: dict[str, Callable[[int], str]] = {
    "spreads": lambda levels: chain(levels, lambda i: f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}"),
    "inline fragments": lambda levels: chain(
        levels,
        lambda i: f"fragment F{i} on Query {{ ... on Query {{ ...F{i + 1} }} ... {{ ...F{i + 1} }} }}",
    ),
    "aliases": lambda levels: chain(
        levels,
        lambda i: f"fragment F{i} on Query {{ a: __typename ...F{i + 1} b: __typename ...F{i + 1} }}",
    ),
    "fields": lambda levels: chain(
        levels,
        lambda i: f"fragment F{i} on Query {{ viewer {{ id }} ...F{i + 1} ...F{i + 1} }}",
        leaf="agencies(first: 1) { nodes { name } }",
    ),
    "overlapping fields": nested_chain,
}  # fmt: skip


class WorkExceeded(Exception):
    pass


def calls(work: Callable[[], object], budget: int = 1_000_000) -> int:
    """Python function calls made by `work`: a count of the work done that does not
    depend on the machine. Over `budget`, WorkExceeded stops it (an exponential walk
    fails the test rather than hanging it)."""
    made = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal made
        if event == "call":
            made += 1
            if made > budget:
                raise WorkExceeded(f"more than {budget} calls")

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return made


def selections(document: DocumentNode) -> int:
    """Fields, inline fragments and spreads written in the document."""
    found = 0

    class Count(Visitor):
        def enter(self, node: Any, *_: Any) -> None:
            nonlocal found
            if isinstance(node, FieldNode | InlineFragmentNode | FragmentSpreadNode):
                found += 1

    visit(document, Count())
    return found


@pytest.mark.parametrize("variant", VARIANTS)
async def test_a_multiplying_document_is_refused_and_the_next_request_answered(
    settings: Settings, variant: str
) -> None:
    document = VARIANTS[variant](30)
    headers = {"accept": GRAPHQL_RESPONSE}
    async with live_server(create_app(settings)) as client:
        refused = await client.post("/graphql", json={"query": document}, headers=headers)
        after = await client.post(
            "/graphql", json={"query": "{ agencies(first: 1) { nodes { name } } }"}
        )
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_FIELDS"
    assert error["extensions"]["fields"] > error["extensions"]["maxFields"] == 2000
    assert after.status_code == 200
    assert len(after.json()["data"]["agencies"]["nodes"]) == 1


async def test_the_field_limit_is_on_fields_once_spread(run: Run) -> None:
    """2^10 fields pass, 2^11 do not: the count is of fields as execution meets them."""
    spreads = VARIANTS["spreads"]
    assert (await run.data(spreads(10))) == {"__typename": "Query"}
    error = await run.error(spreads(11))
    assert error["extensions"] == {"code": "TOO_MANY_FIELDS", "fields": 2048, "maxFields": 2000}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_expansion_visits_each_written_selection_once(variant: str) -> None:
    for levels in range(5, 41, 5):
        document = parse(VARIANTS[variant](levels))
        expansion = Expansion(document)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        size = expansion.of(operation)
        assert expansion.visits == selections(document)
        if variant == "spreads":
            assert (size.fields, size.depth) == (min(2**levels, SATURATED), -1)  # no depth: __
        if variant == "overlapping fields":
            assert size.depth == 3 * levels + 1


def our_rules(settings: Settings) -> list[Any]:
    return [
        field_limit(settings.max_fields),
        depth_limit(settings.max_query_depth),
        alias_limit(settings.max_aliases),
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_validation_work_is_linear_in_the_chain(schema: Any, variant: str) -> None:
    """parse and validate, graphql-core's rules and ours, at the default limits; and our
    rules alone with limits no document reaches, so that nothing is cut short: the calls
    made per character of the document do not grow with the chain (they doubled with
    every level when the depth limit re-walked spreads)."""
    limited = [*specified_rules, *our_rules(Settings())]
    unlimited = our_rules(Settings(max_fields=SATURATED, max_query_depth=1000, max_aliases=10**6))
    per_character: list[float] = []
    alone: list[float] = []
    for levels in range(5, 41, 5):
        text = VARIANTS[variant](levels)
        document = parse(text)
        per_character.append(calls(lambda: validate(schema._schema, document, limited)) / len(text))  # noqa: B023
        alone.append(calls(lambda: validate(schema._schema, document, unlimited)) / len(text))  # noqa: B023
    assert max(per_character) < 30, per_character
    assert max(alone) < 2 * min(alone), alone


@pytest.mark.parametrize("variant", ["spreads", "inline fragments"])
def test_the_cost_of_a_merging_chain_is_linear_to_work_out(schema: Any, variant: str) -> None:
    """A fragment spread twice in one selection is collected once, as execution does, so
    the cost analysis of a chain whose spreads merge is linear without the field limit."""
    work = []
    for levels in range(5, 41, 5):
        text = VARIANTS[variant](levels)
        analysis = CostAnalysis(schema._schema, parse(text), None, None)
        work.append(calls(analysis.requested) / len(text))
        assert analysis.requested() == 0
    assert max(work) < 2 * min(work), work


# -- generated documents ------------------------------------------------------------

BODIES = [
    "__typename",
    "viewer { id }",
    "contracts(first: 1) { totalCount }",
    "agencies(first: 2) { nodes { name contracts(first: 2) { nodes { number } } } }",
]


@st.composite
def fragment_body(draw: st.DrawFn, index: int, count: int) -> str:
    """What fragment `index` of `count` selects: fields, aliased and overlapping ones,
    deep ones, and spreads of later fragments, bare or in inline fragments."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        alias = draw(st.sampled_from(["", "a: ", "b: ", "x1: "]))
        parts.append(alias + draw(st.sampled_from(BODIES)))
    later = list(range(index + 1, count + 1))
    if later:
        for _ in range(draw(st.integers(1, 3))):
            spread = f"...F{draw(st.sampled_from(later[:3]))}"
            wrap = draw(st.sampled_from(["{}", "... on Query {{ {} }}", "... {{ {} }}"]))
            parts.append(wrap.format(spread))
    return " ".join(parts) or "__typename"


@st.composite
def multiplying_document(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 40))
    fragments = " ".join(
        f"fragment F{i} on Query {{ {draw(fragment_body(i, count))} }}" for i in range(count)
    )
    wide = " ".join(f"w{i}: __typename" for i in range(draw(st.integers(0, 40))))
    deep = "agencies(first: 1) { nodes { " * draw(st.integers(0, 12))
    close = "} } " * deep.count("agencies")
    return f"query {{ {wide} {deep} __typename {close} ...F0 }} {fragments} fragment F{count} on Query {{ __typename }}"


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(text=multiplying_document())
def test_generated_documents_are_analysed_in_bounded_work(schema: Any, text: str) -> None:
    """Parse, validation with every rule, and the cost analysis of what passes: at most a
    fixed number of calls per character of the document, whatever its fragments do."""
    settings = Settings()
    rules = [*specified_rules, *our_rules(settings)]

    def analyse() -> None:
        try:
            document = parse(text, max_tokens=settings.max_tokens)
        except GraphQLError:
            return
        if not validate(schema._schema, document, rules):
            CostAnalysis(schema._schema, document, None, None).requested()

    assert calls(analyse, budget=60 * len(text)) > 0
