"""Hostile input, by class. Every argument or input field of type ID, Decimal or String,
every page size and every ordering's cursor, found in the schema itself (so a field added
later is covered without a line here), gets a coded refusal for each hostile value: never
INTERNAL_SERVER_ERROR, never a row the client did not name, no SQL of its own, and the
same answer, byte for byte, from the compiled and the ordinary executor."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    ast_from_value,
    build_schema,
    get_named_type,
    is_composite_type,
    is_required_argument,
    print_ast,
)

from cidadao_gql.data import columns, sql
from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.execution.executable_schema import Schema, sdl
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from tests.conftest import answer_bytes, ordinary

ANA = User(id="ana", scopes=frozenset({"read", "investigate"}))
ROOTS = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}
SOME_UUID = "00000000-0000-4000-8000-000000000000"
# Types reached only below an investigation a test must first run: their arguments, a page
# size and a cursor, are refused as every other one is in tests/test_investigations.py
# (test_findings_and_their_contracts_are_priced_by_first,
# test_findings_are_a_connection_paged_by_cursor).
BELOW_INVESTIGATIONS = {
    "Investigation": {"findings": {"first", "after"}},
    "InvestigationFinding": {"contracts": {"first"}},
}


@dataclass(frozen=True)
class Position:
    """Where a client's value goes: an argument of a field, or an input field below it
    (`path`; 0 for a list's element). `parent` is a root type or a Node type, reached
    through `node(id:)`."""

    parent: str
    field: str
    argument: str
    path: tuple[str | int, ...]
    type: str  # the named type of the value
    required: bool  # non-null where it sits

    def __str__(self) -> str:
        below = "".join(f".{p}" if isinstance(p, str) else "[]" for p in self.path)
        return f"{self.parent}.{self.field}({self.argument}{below})"


@dataclass
class Found:
    schema: GraphQLSchema
    positions: list[Position] = field(default_factory=list)


def discover(schema: Schema) -> Found:
    """Every place a value of a client's goes, from the schema's SDL."""
    graphql_schema = build_schema(sdl(schema))
    found = Found(graphql_schema)
    node = graphql_schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    node_types = {t.name for t in graphql_schema.get_possible_types(node)}
    for name, named in graphql_schema.type_map.items():
        if name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        taking = {f for f, d in named.fields.items() if d.args}
        if not taking:
            continue
        if name in BELOW_INVESTIGATIONS:
            below = BELOW_INVESTIGATIONS[name]
            assert taking == set(below), (name, taking)
            assert all(set(named.fields[f].args) == below[f] for f in taking), name
            continue
        assert name in ROOTS or name in node_types, (
            f"{name} has fields with arguments but is neither a root nor a Node: teach this "
            "module how to reach it"
        )
        for field_name in sorted(taking):
            for argument, definition in named.fields[field_name].args.items():
                found.positions += _leaves(name, field_name, argument, definition.type, ())
    return found


def _leaves(
    parent: str,
    field_name: str,
    argument: str,
    given: GraphQLInputType,
    path: tuple[str | int, ...],
) -> Iterator[Position]:
    required = isinstance(given, GraphQLNonNull)
    inner = given.of_type if isinstance(given, GraphQLNonNull) else given
    if isinstance(inner, GraphQLList):
        yield from _leaves(parent, field_name, argument, inner.of_type, (*path, 0))
    elif isinstance(inner, GraphQLInputObjectType):
        for name, definition in inner.fields.items():
            yield from _leaves(parent, field_name, argument, definition.type, (*path, name))
    elif not isinstance(inner, GraphQLEnumType):
        yield Position(parent, field_name, argument, path, get_named_type(inner).name, required)


class Probe:
    """Runs operations as ANA, on both executors, counting the SQL they send."""

    def __init__(self, schema: Schema, db: Database, settings: Settings, found: Found) -> None:
        self.schema, self.db, self.settings, self.found = schema, db, settings, found
        self.parents: dict[str, str] = {}

    def operation(self, position: Position, value: str, variable: str | None) -> str:
        """An operation putting `value` (a literal, or `$v` of type `variable`) at
        `position`, with every other required argument filled in."""
        parent = self.found.schema.get_type(position.parent)
        assert isinstance(parent, GraphQLObjectType)
        definition = parent.fields[position.field]
        for step in reversed(position.path):
            value = f"[{value}]" if step == 0 else f"{{{step}: {value}}}"
        arguments = [f"{position.argument}: {value}"]
        for name, argument in definition.args.items():
            if name != position.argument and is_required_argument(argument):
                arguments.append(f"{name}: {_filler(argument.type)}")
        selection = " { __typename }" if is_composite_type(get_named_type(definition.type)) else ""
        call = f"{position.field}({', '.join(arguments)}){selection}"
        declared = [f"$v: {variable}"] if variable else []
        if position.parent in ROOTS:
            kind, body = ROOTS[position.parent], call
        else:
            kind, body = "query", f"node(id: $parent) {{ ... on {position.parent} {{ {call} }} }}"
            declared.append("$parent: ID!")
        return f"{kind}{'(' + ', '.join(declared) + ')' if declared else ''} {{ {body} }}"

    async def parent_id(self, type_name: str) -> str:
        """The global ID of some row of a Node type."""
        if type_name not in self.parents:
            for pk in range(1, 100):
                candidate = encode_id(type_name, pk)
                result = await self.execute(
                    "query($id: ID!) { node(id: $id) { id } }", {"id": candidate}, True
                )
                if result.data and result.data["node"]:
                    self.parents[type_name] = candidate
                    break
            else:
                raise AssertionError(f"no {type_name} among the first ids")
        return self.parents[type_name]

    async def execute(self, query: str, variables: dict[str, Any], compiled: bool) -> Any:
        context = Context(self.db, self.settings, Loaders(self.db), ANA, "test")
        schema = self.schema if compiled else ordinary(self.schema)
        if query.startswith("subscription"):
            stream = await schema.subscribe(query, variables, context)
            if not isinstance(stream, AsyncGenerator):
                return stream
            try:
                return await anext(stream)
            finally:
                await stream.aclose()
        return await schema.execute(query, variable_values=variables, context_value=context)

    async def run(self, position: Position, query: str, variables: dict[str, Any]) -> Any:
        """The answer on the compiled path (a parent given to `node(id:)` if needed)."""
        if position.parent not in ROOTS:
            variables = {**variables, "parent": await self.parent_id(position.parent)}
        return await self.execute(query, variables, True)

    async def refused(self, position: Position, query: str, variables: dict[str, Any]) -> list[str]:
        """The codes of a refusal, both executors agreeing byte for byte, checking that it
        sent no SQL of its own: none at the root, and below `node(id:)` at most the
        parent's lookup."""
        allowed = 0
        if position.parent not in ROOTS:
            variables = {**variables, "parent": await self.parent_id(position.parent)}
            allowed = await self._statements(
                "query($parent: ID!) { node(id: $parent) { id } }", {"parent": variables["parent"]}
            )
        before = await self.db.round_trips.settled()
        result = await self.execute(query, variables, True)
        ordinary = await self.execute(query, variables, False)
        assert answer_bytes(result) == answer_bytes(ordinary), (query, variables)
        # (a request refused before execution does not even look its parent up)
        assert await self.db.round_trips.settled() - before <= 2 * allowed, (query, variables)
        assert result.errors, (str(position), query, variables, result.data)
        codes = [(e.extensions or {}).get("code") for e in result.errors]
        assert "INTERNAL_SERVER_ERROR" not in codes and None not in codes, (query, result.errors)
        return [str(code) for code in codes]

    async def _statements(self, query: str, variables: dict[str, Any]) -> int:
        before = await self.db.round_trips.settled()
        result = await self.execute(query, variables, True)
        assert result.errors is None, result.errors
        return await self.db.round_trips.settled() - before


def _filler(given: Any) -> str:
    """A value a required argument takes, for operations that aim at another one."""
    named = get_named_type(given)
    if isinstance(named, GraphQLEnumType):
        return str(next(iter(named.values)))
    if isinstance(named, GraphQLInputObjectType):
        return "{}"
    if named.name == "ID":
        return f'"{SOME_UUID}"'
    return '"x"'


def literal(text: str) -> str:
    node = ast_from_value(text, GraphQLString)
    assert node is not None
    return print_ast(node)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def hostile_ids(type_name: str) -> list[str]:
    """IDs that name no row: keys past bigint, keys int() reads though they are not ours,
    base64 and UUID forms that are not as we write them."""
    keys = ["99999999999999999999", "9223372036854775808", " 1", "1 ", "01", "\u0661",
            "1_0", "+1", "-1", "0", "", "1e3", "0x1", "1\x00"]  # fmt: skip
    canonical = encode_id(type_name, 1)
    ids = [b64(f"{type_name}:{key}") for key in keys]
    ids += [f"{type_name}:1", b64(f" {type_name}:1"), b64(f"{type_name}:1:1"),
            b64(f"{type_name}\x00:1"), b64(":1"), "%%%%", "", canonical + "\n"]  # fmt: skip
    if canonical.endswith("=="):  # 4 bits of padding: another last character, same bytes
        ids.append(canonical.rstrip("="))
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = canonical[-3]
        twin = canonical[:-3] + alphabet[alphabet.index(last) + 1] + "=="
        assert base64.b64decode(twin) == base64.b64decode(canonical)
        ids.append(twin)
    ids += [SOME_UUID.upper().replace("0", "A"), "{" + SOME_UUID + "}", f"urn:uuid:{SOME_UUID}",
            uuid.UUID(SOME_UUID).hex, SOME_UUID + " "]  # fmt: skip
    return ids


HOSTILE_DECIMALS: list[Any] = [
    "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "1e-999999",
    "1e99999999999999999999", "0.001", "10000000000000000", "-10000000000000000", " 1", "1_0",
    "\u0661", "1.", ".5", "0x10", "", "1,5", "1e17",
]  # fmt: skip
HOSTILE_DECIMAL_VALUES: list[Any] = [True, float("inf"), float("nan"), 1e300, [], {}]
HOSTILE_DECIMAL_LITERALS = ["1e999999", "1e-999999", "NaN", "Infinity", "0.001", "true", "[1]",
                            "123456789012345678901234567890", "{a: 1}"]  # fmt: skip
FINE_DECIMALS: list[Any] = ["1234.56", "0", "-5.5", "1E+2", "9999999999999999.99", 10, 0.5]
UNSTORABLE = ["a\x00b", "\x00", "a\ud800b", "\udc00", "\ud83d"]


@pytest.fixture(scope="module")
def probe(schema: Schema, db: Database, settings: Settings) -> Probe:
    return Probe(schema, db, settings, discover(schema))


def of_type(probe: Probe, *names: str) -> list[Position]:
    return [p for p in probe.found.positions if p.type in names]


async def test_the_schema_is_walked_whole(probe: Probe) -> None:
    """A test that found nothing would pass: the positions it knows must be there."""
    seen = {str(p) for p in probe.found.positions}
    for expected in ("Query.node(id)", "Query.contracts(filter.valueMin)",
                     "Query.spending(filter.supplier)", "Agency.contracts(filter.search)",
                     "Mutation.startInvestigation(target.agencies[])", "Item.awards(after)",
                     "Subscription.investigationEvents(id)", "Query.investigations(first)"):  # fmt: skip
        assert expected in seen


async def test_every_id_refuses_what_is_not_one_of_ours(probe: Probe) -> None:
    node = probe.found.schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    types = [t.name for t in probe.found.schema.get_possible_types(node)]
    checked = 0
    for position in of_type(probe, "ID"):
        query = probe.operation(position, "$v", "ID!" if position.required else "ID")
        # The type whose canonical ID this position takes (none: an investigation's id).
        takes = []
        for type_name in types:
            result = await probe.run(position, query, {"v": encode_id(type_name, 1)})
            if all((e.extensions or {}).get("code") != "INVALID_ID" for e in result.errors or ()):
                takes.append(type_name)
        for hostile in [h for t in takes or ["Contract"] for h in hostile_ids(t)]:
            codes = await probe.refused(position, query, {"v": hostile})
            assert codes == ["INVALID_ID"], (str(position), hostile, codes)
            checked += 1
    assert checked > 300


async def test_every_decimal_takes_only_what_its_column_holds(probe: Probe) -> None:
    positions = of_type(probe, "Decimal")
    assert len(positions) >= 12  # valueMin/valueMax of every contract and procurement filter
    for position in positions:
        query = probe.operation(position, "$v", "Decimal")
        for fine in FINE_DECIMALS:
            result = await probe.run(position, query, {"v": fine})
            assert result.errors is None, (str(position), fine, result.errors)
        for hostile in HOSTILE_DECIMALS + HOSTILE_DECIMAL_VALUES:
            codes = await probe.refused(position, query, {"v": hostile})
            assert codes == ["BAD_USER_INPUT"], (str(position), hostile, codes)
        # Written in the document: refused as it is validated, as strings or as they are.
        for hostile in [literal(h) for h in HOSTILE_DECIMALS] + HOSTILE_DECIMAL_LITERALS:
            codes = await probe.refused(position, probe.operation(position, hostile, None), {})
            assert codes == ["BAD_USER_INPUT"], (str(position), hostile, codes)


async def test_every_string_refuses_what_no_column_can_hold(probe: Probe) -> None:
    positions = of_type(probe, "String", "ID")
    assert len(positions) >= 30
    for position in positions:
        variable = f"{position.type}!" if position.required else position.type
        query = probe.operation(position, "$v", variable)
        for hostile in UNSTORABLE:
            codes = await probe.refused(position, query, {"v": hostile})
            assert codes == ["BAD_USER_INPUT"], (str(position), hostile, codes)
        # In the document, "\u0000" is valid GraphQL; a lone surrogate does not parse.
        for hostile, code in (("a\x00b", "BAD_USER_INPUT"), ("a\ud800b", "GRAPHQL_PARSE_FAILED")):
            codes = await probe.refused(
                position, probe.operation(position, literal(hostile), None), {}
            )
            assert codes == [code], (str(position), hostile, codes)


async def test_unstorable_strings_are_found_at_any_depth_of_the_variables(probe: Probe) -> None:
    position = next(p for p in of_type(probe, "ID") if str(p) == "Query.contracts(filter.agency)")
    query = "query($f: ContractFilter) { contracts(filter: $f) { __typename } }"
    for variables in ({"f": {"search": "ok", "agency": "\x00"}}, {"f": {"x\ud800": 1}},
                      {"unused": [[{"deep": "\x00"}]]}, {"\x00": None}):  # fmt: skip
        assert await probe.refused(position, query, variables) == ["BAD_USER_INPUT"]
    result = await probe.run(position, query, {"f": {"search": "óleo diesel"}, "7": ["x"]})
    assert result.errors is None  # what text can hold goes through, whatever the depth


async def test_every_search_is_bounded_as_postgresql_parses_it(probe: Probe) -> None:
    positions = [p for p in of_type(probe, "String") if p.path[-1:] == ("search",)]
    assert len(positions) >= 6
    for position in positions:
        query = probe.operation(position, "$v", "String")
        for fine in ("-" * 32 + "medicamento", "óleo " * 100):
            result = await probe.run(position, query, {"v": fine})
            assert result.errors is None, (str(position), result.errors)
        for hostile in ("-" * 33 + "medicamento", "a" * 501, "- " * 40, "casa " * 50000):
            codes = await probe.refused(position, query, {"v": hostile})
            assert codes == ["BAD_USER_INPUT"], (str(position), hostile[:40], codes)


async def test_every_page_size_is_refused_the_same_way(probe: Probe) -> None:
    positions = [p for p in of_type(probe, "Int") if p.argument == "first" and not p.path]
    assert len(positions) >= 14  # every connection, spending and investigations
    for position in positions:
        query = probe.operation(position, "$v", "Int")  # nullable: the argument has a default
        for hostile in (-1, 0, 101, None):
            codes = await probe.refused(position, query, {"v": hostile})
            assert codes == ["INVALID_PAGE_SIZE"], (str(position), hostile, codes)
        for hostile in (-1, 0, 101):
            codes = await probe.refused(position, probe.operation(position, str(hostile), None), {})
            assert codes == ["INVALID_PAGE_SIZE"], (str(position), hostile, codes)
        codes = await probe.refused(position, query, {"v": 2**31})  # not an Int at all
        assert codes == ["BAD_USER_INPUT"], (str(position), codes)


# Int is 32 bits in GraphQL; what reaches a narrower column (a smallint year) or a bounded
# one (a page size) must be refused there, not by PostgreSQL or asyncpg.
HOSTILE_INTS = [2**31 - 1, -(2**31), 32768, -32769, 99999, -1, 0]
# What each Int position answers to them; a new one must be added here (and checked).
INT_REFUSALS = {"first": "INVALID_PAGE_SIZE", "year": "BAD_USER_INPUT"}


async def test_every_int_is_refused_before_it_reaches_a_column(probe: Probe) -> None:
    positions = of_type(probe, "Int")
    assert len(positions) >= 16  # every page size, and the year of each procurement filter
    for position in positions:
        leaf = position.path[-1] if position.path else position.argument
        assert leaf in INT_REFUSALS, f"{position}: which Ints does it take? teach INT_REFUSALS"
        variable = "Int!" if position.required else "Int"
        query = probe.operation(position, "$v", variable)
        for hostile in HOSTILE_INTS:
            codes = await probe.refused(position, query, {"v": hostile})
            assert codes == [INT_REFUSALS[leaf]], (str(position), hostile, codes)
            in_document = probe.operation(position, str(hostile), None)
            codes = await probe.refused(position, in_document, {})
            assert codes == [INT_REFUSALS[leaf]], (str(position), hostile, codes)


async def test_years_within_the_bounds_are_taken(probe: Probe) -> None:
    positions = [p for p in of_type(probe, "Int") if p.path[-1:] == ("year",)]
    assert len(positions) >= 2  # Query.procurements and Agency.procurements
    for position in positions:
        query = probe.operation(position, "$v", "Int")
        for fine in (1900, 2024, 2100, None):
            result = await probe.run(position, query, {"v": fine})
            assert result.errors is None, (str(position), fine, result.errors)


# For each way an ordering reads its column (sql.read_*): a value it takes, and values
# it must not, among them what Python's own parsers take.
CURSOR_VALUES: dict[Any, tuple[str, list[str]]] = {
    # the cursors' id is 1: an id ordering's value must be that id
    columns.read_key: ("1", ["0", "-5", "01", " 1", "1_0", "\u0661", "9223372036854775808",
                             "1e3", "NaN", "", "1.0", "2"]),
    columns.read_integer: ("1", ["2147483648", "-2147483649", "01", "1_0", "\u0661", " 1",
                                 "NaN", "", "+1", "-0"]),
    # amounts are written with two decimals: other spellings of the same amount are not ours
    columns.read_money: ("1.00", ["NaN", "sNaN", "-NaN", "Infinity", "-Infinity", "1e999999",
                                  "1e-999999", "1.001", "10000000000000000", " 1.00",
                                  "1_0.00", "\u0661.00", "", "1", "1.0", "1.000", "1E+0",
                                  "100E-2", "+1.00", "01.00", "-0", "-0.00", "0.0", "-0.0"]),
    columns.read_date: ("2024-01-01", ["2024-1-1", "20240101", "2024-W01-1", "2024-01-01T00:00",
                                       "10000-01-01", "NaN", "\u0662024-01-01"]),
    columns.read_timestamp: ("2024-01-01T00:00:00", ["2024-01-01T00:00:00+00:00",
                                                     "2024-01-01 00:00:00", "2024-01-01",
                                                     "2024-01-01T00:00:00Z", "NaN"]),
}  # fmt: skip


def cursor(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode()


def hostile_cursors(name: str, read: Any) -> list[str]:
    fine, bad_values = CURSOR_VALUES[read]
    raw = orjson.dumps(name).decode()
    canonical = cursor(orjson.dumps([name, fine, 1]))
    found = [cursor(orjson.dumps([name, value, 1])) for value in bad_values]
    # ids past bigint, negative, not integers; values that are not strings; JSON that
    # orjson refuses or reads as a float
    for pk in ("1180591620717411303424", "9223372036854775808", "-1", "0", "1.5", '"1"', "true",
               "null", "1e999999", "NaN", "Infinity", "-Infinity", "01", "1e2"):  # fmt: skip
        found.append(cursor(f'[{raw},"{fine}",{pk}]'.encode()))
    for value in ("1", "null", "NaN", "1e999999", "[]", f'"{fine}","x"'):
        found.append(cursor(f"[{raw},{value},1]".encode()))
    found += [cursor(f'[{raw},"{fine}"]'.encode()), cursor(f'[{raw},"{fine}",1,1]'.encode()),
              cursor(f'[{raw}, "{fine}", 1]'.encode()), cursor(b"{}"), cursor(b'"x"'),
              canonical.rstrip("=") if canonical.endswith("=") else canonical + "=",
              canonical + "\n", " " + canonical, "not a cursor!", "", "\u0661"]  # fmt: skip
    return found


def orders(position: Position, schema: GraphQLSchema) -> list[str]:
    """The `orderBy` arguments a connection takes: every combination, or none."""
    parent = schema.get_type(position.parent)
    assert isinstance(parent, GraphQLObjectType)
    argument = parent.fields[position.field].args.get("orderBy")
    if argument is None:
        return [""]
    order = get_named_type(argument.type)
    assert isinstance(order, GraphQLInputObjectType)
    combinations = [""]
    for name, definition in order.fields.items():
        values = get_named_type(definition.type)
        assert isinstance(values, GraphQLEnumType)
        combinations = [f"{c} {name}: {v}" for c in combinations for v in values.values]
    return [f", orderBy: {{{c} }}" for c in combinations]


async def test_every_cursor_of_every_ordering_is_read_strictly(probe: Probe) -> None:
    orderings = {
        o.name: o.parse
        for entity in vars(sql).values()
        if isinstance(entity, sql.Entity)
        for o in entity.orderings
    }
    assert len(orderings) >= 10
    positions = [p for p in of_type(probe, "String") if p.argument == "after" and not p.path]
    # Spending's cursors name a group, not a row: tests/schema/test_spending.py has theirs.
    connections = [p for p in positions
                   if p.parent != "Subscription" and str(p) != "Query.spending(after)"]  # fmt: skip
    assert len(connections) >= 12
    used = set()
    for position in connections:
        for order in orders(position, probe.found.schema):
            query = probe.operation(position, "$v", "String").replace(
                "after: $v", f"after: $v{order}"
            )
            # Which ordering this list and `orderBy` page by: the one whose cursor it takes.
            takes = []
            for name, read in orderings.items():
                fine = cursor(orjson.dumps([name, CURSOR_VALUES[read][0], 1]))
                result = await probe.run(position, query, {"v": fine})
                if result.errors is None:
                    takes.append(name)
            assert len(takes) == 1, (str(position), order, takes)
            used.add(takes[0])
            for hostile in hostile_cursors(takes[0], orderings[takes[0]]):
                codes = await probe.refused(position, query, {"v": hostile})
                assert codes == ["INVALID_CURSOR"], (str(position), order, hostile, codes)
    # every ordering a list can be asked for was tried (ID_DESC, NUMBER_DESC... are not)
    assert {"SIGNED_ON_ASC", "VALUE_DESC", "PUBLISHED_AT_DESC", "NUMBER_ASC", "ID_ASC"} <= used


async def test_event_ids_are_read_strictly(probe: Probe) -> None:
    position = next(
        p for p in probe.found.positions if str(p) == "Subscription.investigationEvents(after)"
    )
    query = 'subscription($v: String!) { investigationEvents(id: "%s", after: $v) { __typename } }'
    for hostile in ("\u0661", "1_0", " 1", "01", "1-01", "18446744073709551616-0", "1-", "-1",
                    "1\n", "x1", ""):  # fmt: skip
        codes = await probe.refused(position, query % SOME_UUID, {"v": hostile})
        assert codes == ["BAD_USER_INPUT"], (hostile, codes)
    for fine in ("0", "12", "1700000000000-0", "18446744073709551615-18446744073709551615"):
        result = await probe.run(position, query % SOME_UUID, {"v": fine})
        assert [e.extensions["code"] for e in result.errors] == ["NOT_FOUND"], fine
