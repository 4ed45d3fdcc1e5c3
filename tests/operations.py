"""Read operations generated over the whole schema (hypothesis), for the tests that run
them: the compiled executor against the ordinary one, and the cost bound."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)
from hypothesis import strategies as st

from cidadao_gql.schema.relay import encode_id

MAX_DEPTH = 4
SKIPPED_FIELDS = {"investigation", "investigations"}  # need a user: covered elsewhere
SCALARS: dict[str, Any] = {
    "Int": st.sampled_from([1, 2, 3] * 6 + [0, 101]),  # 0 and 101: refused page sizes
    "String": st.sampled_from(["", "escola", "SP"]),
    "Boolean": st.booleans(),
    "ID": st.sampled_from(
        [encode_id("Contract", 1), encode_id("Agency", 1), encode_id("Supplier", 2)] * 3
        + [encode_id("Contract", 10**9), "not-an-id"]
    ),
    "Date": st.sampled_from(["2024-01-01", "2025-06-30"]),
    "Decimal": st.sampled_from(["1000", "50000.50"]),
}

ID_FOR = {  # filters by a related object take that object's IDs
    "agency": st.sampled_from([encode_id("Agency", 1), encode_id("Agency", 2)]),
    "supplier": st.sampled_from([encode_id("Supplier", 1), encode_id("Supplier", 2)]),
    "procurement": st.sampled_from([encode_id("Procurement", 1), encode_id("Procurement", 2)]),
    "ibgeCode": st.sampled_from(["3550308", "2005293"]),  # any seven digits
}


NODE_TYPES = ("Agency", "Supplier", "Procurement", "Item", "Award", "Contract", "Sanction")
NODE_IDS = st.sampled_from(
    [encode_id(name, pk) for name in NODE_TYPES for pk in (1, 2)]
    + [encode_id("Contract", 10**9), encode_id("Nothing", 1), "not-an-id"]
)


def cursor(ordering: str, value: str, pk: int) -> str:
    """A cursor as relay.encode_cursor writes it (the row need not exist)."""
    return base64.urlsafe_b64encode(orjson.dumps([ordering, value, pk])).decode()


# Cursors for `after` and `before`: foreign and broken ones (refused: the ordinary path
# answers), and well-formed ones of the lists' default orderings and of names, which page
# forwards and backwards from a place in the list (a row that need not exist).
CURSORS = st.sampled_from(
    ["bad", "WyJ4Il0=", cursor("ID_ASC", "3", 3), cursor("ID_ASC", "40", 40),
     cursor("NAME_ASC", "M", 9), cursor("SIGNED_ON_DESC", "2024-06-01", 500),
     cursor("NUMBER_ASC", "2", 10), cursor("PUBLISHED_AT_DESC", "2024-06-01T00:00:00", 50)]
)  # fmt: skip


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '\\"') + '"'


@st.composite
def argument_text(draw: st.DrawFn, field: GraphQLField) -> str:
    given: list[str] = []
    for name, argument in field.args.items():
        required = isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
        named = get_named_type(argument.type)
        if not required and not draw(st.booleans()):
            continue
        if name in ("last", "before") and any(g.startswith(("first:", "after:")) for g in given):
            continue  # one direction per page (both refused: tests/schema/test_paging)
        if isinstance(named, GraphQLEnumType):
            given.append(f"{name}: {draw(st.sampled_from(sorted(named.values)))}")
        elif isinstance(named, GraphQLInputObjectType):
            inner = [  # documents and text search have their own tests
                (n, f)
                for n, f in named.fields.items()
                if is_leaf_type(get_named_type(f.type))
                and not any(w in n.lower() for w in ("search", "document", "cnpj"))
            ]  # fmt: skip
            if not inner:
                continue
            key, input_field = draw(st.sampled_from(inner))
            value_type = get_named_type(input_field.type)
            value = (
                draw(st.sampled_from(sorted(value_type.values)))
                if isinstance(value_type, GraphQLEnumType)
                else literal(draw(ID_FOR[key] if key in ID_FOR else SCALARS[value_type.name]))
            )
            given.append(f"{name}: {{{key}: {value}}}")
        elif named.name == "String" and name in ("after", "before"):
            if draw(st.integers(0, 3)) == 0:  # a cursor, of this list or not, or none
                given.append(f"{name}: {literal(draw(CURSORS))}")
        else:
            given.append(f"{name}: {literal(draw(SCALARS.get(named.name, st.just('x'))))}")
    return f"({', '.join(given)})" if given else ""


@st.composite
def selection(draw: st.DrawFn, parent: GraphQLObjectType, depth: int) -> str:
    names = sorted(n for n in parent.fields if n not in SKIPPED_FIELDS)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    parts = []
    for index, name in enumerate(chosen):
        field = parent.fields[name]
        named = get_named_type(field.type)
        alias = f"f{index}: " if draw(st.integers(0, 4)) == 0 else ""
        directive = draw(st.sampled_from(["", "", "", " @include(if: false)", " @skip(if: false)"]))
        arguments = draw(argument_text(field))
        if (
            name == "node" and "id" in field.args
        ):  # an ID of every type, of a missing row, of no type, of nothing
            arguments = f"(id: {literal(draw(NODE_IDS))})"
        text = f"{alias}{name}{arguments}{directive}"
        if not is_leaf_type(named):
            if depth >= MAX_DEPTH:
                continue
            if is_abstract_type(named):
                text += " { " + draw(node_selection(parent, depth + 1)) + " }"
            else:
                assert isinstance(named, GraphQLObjectType)
                text += " { " + draw(selection(named, depth + 1)) + " }"
        parts.append(text)
    if draw(st.booleans()):
        parts.append("__typename")
    if not parts:
        parts.append("__typename")
    if draw(st.integers(0, 5)) == 0:  # the same fields again, through a fragment
        parts.append(f"... on {parent.name} {{ {parts[0]} }}")
    return " ".join(parts)


def object_types(root: GraphQLObjectType) -> dict[str, GraphQLObjectType]:
    """The object types reachable from `root`, by name."""
    found = {root.name: root}
    waiting = [root]
    while waiting:
        for field in waiting.pop().fields.values():
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType) and named.name not in found:
                found[named.name] = named
                waiting.append(named)
    return found


@st.composite
def node_selection(draw: st.DrawFn, root: GraphQLObjectType, depth: int) -> str:
    """A selection on Node: `__typename`, `id` (through a fragment on Node, sometimes), and
    an inline fragment on one of its types, whatever the ID's type (fragments on several
    types draw fields of one name and different types, which validation refuses)."""
    parts = ["__typename"]
    if draw(st.booleans()):
        parts.append("... on Node { id }" if draw(st.booleans()) else "id")
    name = draw(st.sampled_from(NODE_TYPES))
    parts.append(f"... on {name} {{ {draw(selection(object_types(root)[name], depth))} }}")
    return " ".join(parts)
