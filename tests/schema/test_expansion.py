"""Documents whose fragments multiply what they select: refused with TOO_MANY_FIELDS over
real HTTP, with the worker free for the next request; and the work every analysis of a
document does, counted (Python calls made, not time taken), linear in its length."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
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
    get_introspection_query,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.validation.rules import overlapping_fields_can_be_merged
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cidadao_gql.execution.costs import CostAnalysis
from cidadao_gql.execution.error_codes import code_error
from cidadao_gql.execution.expansion import SATURATED, Expansion
from cidadao_gql.execution.limits import (
    MAX_FRAGMENTS_REACHED,
    MAX_REPEATS,
    alias_limit,
    depth_limit,
    field_limit,
)
from cidadao_gql.schema.strawberry_internals import graphql_schema
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
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


def our_rules(settings: Settings, unlimited: bool = False) -> list[Any]:
    overlap = (SATURATED, SATURATED) if unlimited else (MAX_REPEATS, MAX_FRAGMENTS_REACHED)
    return [
        field_limit(settings.max_fields, *overlap),
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
    unlimited = our_rules(
        Settings(max_fields=SATURATED, max_query_depth=1000, max_aliases=10**6), unlimited=True
    )
    per_character: list[float] = []
    alone: list[float] = []
    for levels in range(5, 41, 5):
        text = VARIANTS[variant](levels)
        document = parse(text)
        built = graphql_schema(schema)
        per_character.append(calls(lambda: validate(built, document, limited)) / len(text))  # noqa: B023
        alone.append(calls(lambda: validate(built, document, unlimited)) / len(text))  # noqa: B023
    assert max(per_character) < 30, per_character
    assert max(alone) < 2 * min(alone), alone


@pytest.mark.parametrize("variant", ["spreads", "inline fragments"])
def test_the_cost_of_a_merging_chain_is_linear_to_work_out(schema: Any, variant: str) -> None:
    """A fragment spread twice in one selection is collected once, as execution does, so
    the cost analysis of a chain whose spreads merge is linear without the field limit."""
    work = []
    for levels in range(5, 41, 5):
        text = VARIANTS[variant](levels)
        analysis = CostAnalysis(graphql_schema(schema), parse(text), None, None)
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
        if not validate(graphql_schema(schema), document, rules):
            CostAnalysis(graphql_schema(schema), document, None, None).requested()

    assert calls(analyse, budget=60 * len(text)) > 0


# -- what OverlappingFieldsCanBeMerged compares ---------------------------------------

TYPENAMES = "{ " + "__typename " * 1995 + "}"  # 22 KB, cost 0: a second of the rule's work


def fragment_chain(levels: int, body: Callable[[int], str]) -> str:
    fragments = " ".join(
        f"fragment F{i} on Query {{ {body(i)} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"


OVERLAPPING: dict[str, str] = {
    "one name 1,995 times": TYPENAMES,
    "one name through a chain of fragments": fragment_chain(140, lambda i: "__typename viewer { id }"),
    "a chain of fragments of distinct names": fragment_chain(140, lambda i: f"a{i}: viewer {{ id }}"),
    "fragments spread together": "{ " + " ".join(f"...A{i}" for i in range(50)) + " } " + " ".join(
        f"fragment A{i} on Query {{ x{i}: __typename viewer {{ id }} }}" for i in range(50)
    ),
    "one name at one path, through repeated parents": "{ " + ("viewer { " + "__typename " * 40 + "} ") * 40 + "}",
}  # fmt: skip
OVERLAP_CODES = {
    "one name 1,995 times": {"responseName": "__typename", "repeats": 1995, "maxRepeats": 50},
    "one name through a chain of fragments": {"responseName": "__typename", "repeats": 141, "maxRepeats": 50},
    "a chain of fragments of distinct names": {"fragments": 141, "maxFragments": 30},
    "fragments spread together": {"fragments": 50, "maxFragments": 30},
    "one name at one path, through repeated parents": {},  # graphql-core's budget, lowered
}  # fmt: skip


def validation_calls(schema: Any, text: str, rules: list[Any]) -> tuple[int, list[GraphQLError]]:
    document = parse(text, max_tokens=Settings().max_tokens)
    errors: list[GraphQLError] = []
    made = calls(lambda: errors.extend(validate(graphql_schema(schema), document, rules)), 10**8)
    return made, [code_error(e, None) for e in errors]


@pytest.mark.parametrize("name", OVERLAPPING)
def test_what_the_overlap_rule_compares_is_bounded(
    schema: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each document is refused with TOO_MANY_FIELDS in a few calls per character, where
    graphql-core's rule alone, with its own budget, made many times more: its pairs of
    same-named fields, and of selection sets and the fragments they reach, are bounded
    before it runs."""
    text = OVERLAPPING[name]
    made, errors = validation_calls(schema, text, [*specified_rules, *our_rules(Settings())])
    assert made < 30 * len(text), made
    (error,) = errors
    assert error.extensions is not None
    assert error.extensions.pop("code") == "TOO_MANY_FIELDS"
    if OVERLAP_CODES[name]:
        assert error.extensions == OVERLAP_CODES[name]
    monkeypatch.setattr(overlapping_fields_can_be_merged, "MAX_COMPLEXITY_BUDGET", 500_000)
    unchecked = our_rules(Settings(), unlimited=True)
    assert validation_calls(schema, text, [*specified_rules, *unchecked])[0] > 3 * made


def test_a_document_graphiql_and_codegen_would_send_passes_the_overlap_checks(
    schema: Any,
) -> None:
    """GraphiQL's introspection query (three fragments, TypeRef seven levels deep) and a
    name repeated MAX_REPEATS times across fragments reaching MAX_FRAGMENTS_REACHED."""
    rules = [*specified_rules, *our_rules(Settings())]
    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    assert validation_calls(schema, introspection, rules)[1] == []
    repeated = fragment_chain(MAX_FRAGMENTS_REACHED - 1, lambda i: "__typename")
    assert validation_calls(schema, repeated, rules)[1] == []
    assert MAX_REPEATS >= MAX_FRAGMENTS_REACHED
    wide = "{ " + "__typename " * MAX_REPEATS + "}"
    assert validation_calls(schema, wide, rules)[1] == []


async def test_the_repeated_name_and_a_batch_of_them_are_refused_over_http(
    settings: Settings,
) -> None:
    """The 1,995-`__typename` document, and 47 of them in one batch (just under 1 MiB):
    the batch is refused before any document is validated, as its documents share one
    budget of tokens; 47 small documents in a batch are answered."""
    batch = [{"query": TYPENAMES}] * 47
    small = [{"query": "{ __typename }"}] * 47
    headers = {"accept": GRAPHQL_RESPONSE}
    # The batch's text budget would refuse it first; this test is about its tokens.
    settings = replace(settings, max_document_bytes=1_048_576)
    async with live_server(create_app(settings)) as client:
        one = await client.post("/graphql", json={"query": TYPENAMES}, headers=headers)
        many = await client.post("/graphql", json=batch, headers=headers)
        answered = await client.post("/graphql", json=small, headers=headers)
    assert one.status_code == 400
    (error,) = one.json()["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_FIELDS"
    assert error["extensions"]["repeats"] == 1995
    assert sum(len(p["query"]) for p in batch) < 1_048_576
    assert many.status_code == 400
    (error,) = many.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["maxBatchTokens"] == settings.max_batch_tokens
    assert error["message"].startswith("operation 6 of the batch")  # 5 × 1,997 fit
    assert answered.status_code == 200
    assert [a["data"] for a in answered.json()] == [{"__typename": "Query"}] * 47


async def test_introspection_asks_for_the_schema_once_and_wrapped_types_are_not_one_of(
    settings: Settings,
) -> None:
    """Pricing runs `__schema`, so a document (or a batch) asks for it once: four aliased
    copies kept a worker busy for a second before their price refused them. GraphiQL's
    query asks once and is answered; `isOneOf` of a list or non-null type is false, not an
    internal error per field."""
    headers = {"accept": GRAPHQL_RESPONSE}
    deep = "__schema { types { name fields { name type { name ofType { name } } } } }"
    wrapped = '{ __type(name: "Query") { fields { type { kind isOneOf } } } }'
    async with live_server(create_app(settings)) as client:
        twice = await client.post(
            "/graphql", json={"query": f"{{ a: {deep} b: {deep} }}"}, headers=headers
        )
        batch = await client.post(
            "/graphql", json=[{"query": f"{{ {deep} }}"}] * 2, headers=headers
        )
        graphiql = await client.post(
            "/graphql", json={"query": get_introspection_query(descriptions=True)}
        )
        one_of = await client.post("/graphql", json={"query": wrapped})
    assert twice.status_code == 400
    (error,) = twice.json()["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_FIELDS"
    assert error["extensions"]["schemaFields"] == 2
    assert batch.status_code == 400
    (error,) = batch.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["maxSchemaFields"] == 1
    assert graphiql.status_code == 200 and "errors" not in graphiql.json()
    answer = one_of.json()
    assert "errors" not in answer, answer
    fields = answer["data"]["__type"]["fields"]
    assert fields and all(f["type"]["isOneOf"] is False for f in fields)


async def test_a_document_past_its_text_budget_is_refused_before_it_is_read(
    settings: Settings,
) -> None:
    """A long string literal is few tokens but the lexer reads every character: 960 KB of
    one stalled a worker for two seconds. One document holds MAX_DOCUMENT_BYTES, a batch
    four times that together."""
    literal = "a" * settings.max_document_bytes
    big = {"query": f'{{ __type(name: "{literal}") {{ name }} }}'}
    fits = {"query": f'{{ __type(name: "{"a" * (settings.max_document_bytes // 2)}") {{ name }} }}'}
    headers = {"accept": GRAPHQL_RESPONSE}
    async with live_server(create_app(settings)) as client:
        one = await client.post("/graphql", json=big, headers=headers)
        single = await client.post("/graphql", json=fits, headers=headers)
        batch = await client.post("/graphql", json=[fits] * 9, headers=headers)
    assert one.status_code == 400
    (error,) = one.json()["errors"]
    assert error["extensions"] == {
        "code": "BAD_REQUEST",
        "maxDocumentBytes": settings.max_document_bytes,
        "requestId": error["extensions"]["requestId"],
    }
    assert single.status_code == 200 and single.json()["data"] == {"__type": None}
    assert batch.status_code == 400
    (error,) = batch.json()["errors"]
    assert error["extensions"]["maxDocumentBytes"] == 4 * settings.max_document_bytes
    assert error["message"].startswith("operation 8 of the batch")
