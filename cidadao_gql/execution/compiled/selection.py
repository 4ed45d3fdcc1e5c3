"""What plans are made of: a field's plan and shape, the plans of a selection, and the
functions that read a level's values straight from its rows (a fill generated per
selection, columns, ids)."""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetails

from cidadao_gql.errors import Fallback
from cidadao_gql.schema.relay import ChildPage, encode_id
from cidadao_gql.schema.strawberry_internals import enum_class


@dataclass(slots=True)
class Shape:
    """A field's output type, unwrapped: list levels with their nullability, then the
    named type."""

    nullable: bool
    list_of: Shape | None = None
    leaf: GraphQLLeafType | None = None
    object_type: GraphQLObjectType | None = None
    abstract: GraphQLAbstractType | None = None


def shape_of(output: GraphQLOutputType) -> Shape:
    nullable = True
    if isinstance(output, GraphQLNonNull):
        nullable, output = False, output.of_type
    if isinstance(output, GraphQLList):
        return Shape(nullable, list_of=shape_of(output.of_type))
    if is_leaf_type(output):
        return Shape(nullable, leaf=output)
    if is_abstract_type(output):
        return Shape(nullable, abstract=output)
    assert isinstance(output, GraphQLObjectType)
    return Shape(nullable, object_type=output)


@dataclass(frozen=True, slots=True)
class Batch:
    """How a relation field loads: the request's loader `loader`, keyed by the parent's
    attribute `key`, each row made into the related object by `build`."""

    loader: str
    key: str
    build: Callable[[Any], Any] | None  # None: the rows themselves (a row type)


@dataclass(frozen=True, slots=True)
class PageNode:
    """How a connection field of children is fetched: its metadata (`source`), how its
    arguments become the resolver's (Strawberry's conversion), and whether its parents are
    rows (their id a column) or objects (`pk`)."""

    source: ChildPage
    convert: Callable[[dict[str, Any]], dict[str, Any]]
    rows: bool


@dataclass(slots=True)
class FieldPlan:
    key: str
    name: str
    details: list[FieldDetails]
    definition: GraphQLField | None  # None for __typename
    attribute: str | None  # the attribute a field without a resolver reads
    shape: Shape | None
    typename: str | None = None  # for __typename: the type of the selection it is in
    parent: GraphQLObjectType | None = None  # the type whose field this is
    direct: Callable[[Any], Any] | None = None  # a resolver that needs nothing but `self`
    coerce: Callable[[Any], Any] | None = None  # a faster twin of the leaf's own
    read: Callable[[list[Any]], list[Any]] | None = None  # values of synchronous fields
    build: Callable[[Any], Any] | None = None  # the parent's object from its row, if needed
    row_source: str | None = None  # "row": the edge's row; "edges": the rows of the edges
    batch: Batch | None = None  # a relation loaded for all parents at once
    page: PageNode | None = None  # a connection of children fetched for all parents at once
    # Of a root field: None when one statement may answer its subtree (see tree), else why
    # the levels run it.
    levels: str | None = "not a root field"
    # The values of all parents of a level from one awaited call (pages, their counts).
    gather: Callable[[FieldPlan, list[Any], Any], Awaitable[list[Any]]] | None = None
    # A connection's: the columns its nodes read of their rows (None: all), which its
    # resolver may select alone (see relay.columns_of).
    columns: frozenset[str] | None = None
    # Subfields of object values: one selection for an object type, one per runtime type
    # (filled as runtime types show up) for an interface.
    children: Selection | None = None
    by_runtime_type: dict[str, Selection] = field(default_factory=dict)
    # Of `node(id:)` (relay.looked_up): per type, the loader of its rows by id and the plan
    # of its object as a row, for one statement (lookups); the levels use by_runtime_type.
    lookups: dict[str, tuple[str, FieldPlan]] = field(default_factory=dict)
    # Of a list of rows by a column (relay.listed): its loader, the parent's key, the rows
    # shown, and the plan of its objects as rows, for one statement (tree); the levels call
    # its resolver.
    listed: tuple[str, str, int, Selection] | None = None


class Selection(list[FieldPlan]):
    """The plans of one selection, with, for a selection on rows, a function generated for
    it that fills each row's answer with its leaves in one pass (`filled`: their indexes)."""

    fill: Callable[[list[Any], list[dict[str, Any]]], None] | None = None
    filled: frozenset[int] = frozenset()
    loads: bool = True  # whether running it (or a selection below it) may wait on anything

    def settle(self) -> None:
        """Works out `loads`, once the plans below are built."""
        self.loads = any(
            plan.batch is not None
            or (plan.read is None and index not in self.filled)
            or any(child.loads for child in (plan.children, *plan.by_runtime_type.values())
                   if child is not None)
            for index, plan in enumerate(self)
            if plan.definition is not None
        )  # fmt: skip


def node_columns(connection: Selection) -> frozenset[str] | None:
    """The columns that the nodes of a selection on a connection read of their rows
    (`nodes { … }`, `edges { node { … } }`), or None when some field needs the whole row
    (a resolver is given the object made of it) or the nodes are not rows."""
    nodes = [p.children for p in connection if p.row_source == "edges"]
    for plan in connection:
        if plan.row_source is None and plan.children is not None:
            nodes.extend(p.children for p in plan.children if p.row_source == "row")
    if not nodes:
        return None
    columns = {"id"}
    for node in nodes:
        if node is None or node.fill is None:  # not a selection on rows
            return None
        for index, plan in enumerate(node):
            if plan.definition is None or getattr(plan.read, "func", None) is read_node_ids:
                continue  # __typename; id
            if plan.batch is not None:
                columns.add(plan.batch.key)  # on rows, the key is a column
            elif plan.page is not None:
                continue  # its parents' ids
            elif index in node.filled or getattr(plan.read, "func", None) is read_column:
                assert plan.attribute is not None
                columns.add(plan.attribute)
            else:
                return None
    return frozenset(columns)


def null() -> Any:
    raise Fallback  # null in a non-null field: the ordinary path propagates it


def generate_fill(
    plans: list[FieldPlan], type_name: str
) -> tuple[Callable[[list[Any], list[dict[str, Any]]], None], frozenset[int]]:
    """Python source for `fill(rows, outs)`: for each row, every key of the selection in
    field order, the leaves computed inline from the row's columns (`None` for the fields
    the executor resolves afterwards). One statement per field, no loop per field."""
    env: dict[str, Any] = {"b2a": binascii.b2a_base64, "null": null}
    body = ["def fill(rows, outs):", "    for r, o in zip(rows, outs):"]
    filled = set()
    for index, plan in enumerate(plans):
        key = repr(plan.key)
        shape = plan.shape
        if plan.definition is None:
            body.append(f"        o[{key}] = {plan.typename!r}")
            filled.add(index)
        elif (
            shape is not None
            and shape.leaf is not None
            and plan.attribute is not None
            and plan.read is not None
            and getattr(plan.read, "func", None) is read_column
        ):
            column = repr(plan.attribute)
            env[f"c{index}"] = plan.coerce or shape.leaf.coerce_output_value
            missing = "None" if shape.nullable else "null()"
            if shape.leaf is GraphQLString:
                value = f"v if type(v := r[{column}]) is str else (c{index}(v) if v is not None else {missing})"
            else:
                value = f"c{index}(v) if (v := r[{column}]) is not None else {missing}"
            body.append(f"        o[{key}] = {value}")
            filled.add(index)
        elif plan.read is not None and getattr(plan.read, "func", None) is read_node_ids:
            # encode_id, inline: the call costs as much as the encoding, on every ID.
            prefix = f"{type_name}:"
            body.append(
                f"        o[{key}] = b2a(f'{prefix}{{r[\"id\"]}}'.encode(), newline=False).decode()"
            )
            filled.add(index)
        else:
            body.append(f"        o[{key}] = None")
    if not plans:  # every field skipped: an empty object per row
        body.append("        pass")
    exec(compile("\n".join(body), f"<compiled selection on {type_name}>", "exec"), env)
    return env["fill"], frozenset(filled)


def enum_values(leaf: Any) -> dict[Any, str] | None:
    """An enum's names by their Python values (the first name of a value), or None when
    `leaf` is not an enum made from a Python one."""
    if not isinstance(leaf, GraphQLEnumType) or enum_class(leaf) is None:
        return None
    names: dict[Any, str] = {}
    for name, value in leaf.values.items():
        names.setdefault(value.value, name)
    return names


def enum_output(leaf: Any, raw: bool = False) -> Callable[[Any], Any] | None:
    """Strawberry's enum output scans the enum's values for each one; a dict lookup gives
    the same name (the first whose value matches) at once. `raw`: the values are a row's,
    not the enum's members (from_row would have made members of them)."""
    wrapped = enum_class(leaf)
    names = enum_values(leaf)
    if names is None or wrapped is None:
        return None
    slow = leaf.coerce_output_value

    if raw:

        def from_raw(value: Any) -> Any:
            found = names.get(value)
            if found is None:
                raise Fallback  # not one of the enum's values: from_row would have raised
            return found

        return from_raw

    def coerce(value: Any) -> Any:
        if isinstance(value, wrapped):
            found = names.get(value.value)
            if found is not None:
                return found
        return slow(value)

    return coerce


def read_column(name: str, rows: list[Any]) -> list[Any]:
    return [row[name] for row in rows]


def read_attribute(name: str, objects: list[Any]) -> list[Any]:
    return [getattr(o, name) for o in objects]


def read_node_ids(type_name: str, rows: list[Any]) -> list[Any]:
    return [encode_id(type_name, row["id"]) for row in rows]


def read_edge_rows(connections: list[Any]) -> list[Any]:
    return [[edge.row for edge in connection.edges] for connection in connections]


def named_type(shape: Shape | None) -> Any:
    while shape is not None and shape.list_of is not None:
        shape = shape.list_of
    if shape is None:
        return None
    return shape.leaf or shape.object_type or shape.abstract
