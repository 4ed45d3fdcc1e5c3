"""Plans of read operations: what the compiled executor runs (see the package docstring)."""

from __future__ import annotations

import binascii
import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues
from graphql.language import VariableNode, Visitor, visit

from cidadao_gql.schema.relay import BATCH, ROW_TYPES, ROWS, Node, encode_id
from cidadao_gql.schema.strawberry_internals import (
    enum_class,
    plain_function,
    resolver_function,
    strawberry_field,
)

log = logging.getLogger("cidadao_gql.compiled")
TYPENAME = "__typename"
_NOT_PLANNABLE = object()
# Node.id reads nothing but the row's id: the planner reads ids straight from rows.
NODE_ID = resolver_function(Node, "id")


class Fallback(Exception):
    """The compiled path cannot give the exact answer; the ordinary path will."""


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
    # A connection's: the columns its nodes read of their rows (None: all), which its
    # resolver may select alone (see relay.columns_of).
    columns: frozenset[str] | None = None
    # Subfields of object values: one selection for an object type, one per runtime type
    # (filled as runtime types show up) for an interface.
    children: Selection | None = None
    by_runtime_type: dict[str, Selection] = field(default_factory=dict)


@dataclass(slots=True)
class Price:
    """What a plan costs with one set of variables: the requested cost, and `weigh` (the
    cost analysis' own) with the weights it gave so far, by FieldPlan id."""

    requested: int
    weigh: Callable[[GraphQLObjectType, FieldPlan], int]
    weights: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    operation: OperationDefinitionNode
    document: DocumentNode
    root: Selection
    fragments: dict[str, FragmentDetails]
    # Prices by variables (as canonical JSON): they change only with the variables.
    prices: OrderedDict[bytes, Price] = field(default_factory=OrderedDict)
    max_prices: int = 64

    def price(self, variables: bytes, make: Callable[[], Price]) -> Price:
        found = self.prices.get(variables)
        if found is None:
            found = self.prices[variables] = make()
            if len(self.prices) > self.max_prices:
                self.prices.popitem(last=False)
        return found


class Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        max_tokens: int,
        types_by_class: dict[type, str],
        max_plans: int = 1024,
    ) -> None:
        self.schema = schema
        self.rules = rules
        self.max_tokens = max_tokens
        self.types_by_class = types_by_class
        self.classes = {name: cls for cls, name in types_by_class.items()}
        self.max_plans = max_plans
        self._documents: OrderedDict[str, tuple[DocumentNode, tuple[str, ...]] | None] = (
            OrderedDict()
        )
        self._plans: OrderedDict[tuple[Any, ...], Plan | object] = OrderedDict()

    def document(self, query: str) -> tuple[DocumentNode, tuple[str, ...]] | None:
        """The parsed, validated document and the variables its @skip/@include read; None
        when it does not parse or validate (the ordinary path says why)."""
        if query in self._documents:
            self._documents.move_to_end(query)
            return self._documents[query]
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            found = None
        else:
            errors = validate(self.schema, document, [*_specified(), *self.rules])
            found = None if errors else (document, _directive_variables(document))
        self._remember(self._documents, query, found)
        return found

    def plan(
        self,
        query: str,
        operation_name: str | None,
        variables: VariableValues,
        reads: Collection[str],
    ) -> Plan | None:
        found = self.document(query)
        if found is None:
            return None
        document, _ = found
        key = (query, operation_name, tuple(variables.coerced.get(name) for name in reads))
        cached = self._plans.get(key)
        if cached is None:
            cached = self._build(document, operation_name, variables)
            self._remember(self._plans, key, cached)
        else:
            self._plans.move_to_end(key)
        return cached if isinstance(cached, Plan) else None

    def _remember(self, store: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        store[key] = value
        if len(store) > self.max_plans:
            store.popitem(last=False)

    def _build(
        self, document: DocumentNode, operation_name: str | None, variables: VariableValues
    ) -> Plan | object:
        operation = get_operation_ast(document, operation_name)
        name = operation.name.value if operation and operation.name else "anonymous"
        if operation is None or operation.operation is not OperationType.QUERY:
            return self._ordinary(name, "not a query")
        fragments = {
            d.name.value: FragmentDetails(d)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        root_type = self.schema.query_type
        assert root_type is not None
        grouped = collect_fields(self.schema, fragments, variables, root_type, operation)
        try:
            root = self._fields(
                root_type, grouped.grouped_field_set, fragments, variables, operation
            )
        except _Unplannable as reason:
            return self._ordinary(name, str(reason))
        log.info("operation %s: compiled plan", name)
        return Plan(operation, document, root, fragments)

    def _ordinary(self, name: str, reason: str) -> object:
        log.info("operation %s: ordinary path (%s)", name, reason)
        return _NOT_PLANNABLE

    def _fields(
        self,
        parent: GraphQLObjectType,
        grouped: dict[str, list[FieldDetails]],
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        operation: OperationDefinitionNode,
        rows: bool = False,
    ) -> Selection:
        """Plans of a selection on `parent`, whose values at run time are its rows
        (`rows`: a row type's records, see relay.from_columns) or its objects."""
        plans = []
        parent_class = self.classes.get(parent.name)
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name == TYPENAME:
                plans.append(FieldPlan(key, name, details, None, None, None, parent.name))
                continue
            if name.startswith("__"):
                raise _Unplannable("introspection")
            definition = parent.fields[name]
            field_source = strawberry_field(definition)
            attribute = (
                field_source.python_name
                if field_source is not None and field_source.is_basic_field
                else None
            )
            plan = FieldPlan(key, name, details, definition, attribute, shape_of(definition.type))
            plan.parent = parent
            named = _named(plan.shape)
            metadata: Mapping[str, Any] = (
                (field_source.metadata or {}) if field_source is not None else {}
            )
            child_rows = False
            if named is not None and is_leaf_type(named):
                plan.coerce = _enum_output(named, raw=rows)
            if rows:
                # Rows only reach row types, whose classes all have from_row.
                plan.build = getattr(parent_class, "from_row")  # noqa: B009
            if attribute is None and field_source is not None:
                plan.direct = plain_function(field_source)
                source = metadata.get(ROWS)
                if source is not None and named is not None and self._row_type(named.name):
                    plan.row_source, child_rows = source, True
                marked = metadata.get(BATCH)
                if marked is not None and isinstance(named, GraphQLObjectType):
                    if self._row_type(named.name):
                        plan.batch, child_rows = Batch(marked[0], marked[1], None), True
                    else:
                        build = getattr(self.classes.get(named.name), "from_row", None)
                        if build is None:
                            raise _Unplannable(f"no from_row for {named.name}")
                        plan.batch = Batch(marked[0], marked[1], build)
            plan.read = self._reader(plan, parent.name, rows, name)
            if isinstance(named, GraphQLObjectType):
                sub = collect_subfields(
                    self.schema, fragments, variables, operation, named, details
                )
                plan.children = self._fields(
                    named, sub.grouped_field_set, fragments, variables, operation, child_rows
                )
                plan.columns = _node_columns(plan.children)
            elif named is not None and is_abstract_type(named):
                plan.by_runtime_type = {}
                for possible in self.schema.get_possible_types(named):
                    sub = collect_subfields(
                        self.schema, fragments, variables, operation, possible, details
                    )
                    plan.by_runtime_type[possible.name] = self._fields(
                        possible, sub.grouped_field_set, fragments, variables, operation
                    )
            plans.append(plan)
        selection = Selection(plans)
        if rows:
            selection.fill, selection.filled = _generate_fill(plans, parent.name)
        selection.settle()
        return selection

    def _row_type(self, name: str) -> bool:
        return self.classes.get(name) in ROW_TYPES

    @staticmethod
    def _reader(
        plan: FieldPlan, type_name: str, rows: bool, name: str
    ) -> Callable[[list[Any]], list[Any]] | None:
        """How a synchronous field's values come from its parents, or None when a resolver
        must be called (or awaited) for them."""
        if plan.batch is not None:
            return None
        if rows and plan.attribute is not None:
            return partial(_column, plan.attribute)  # the column of the same name
        if rows and name == "id" and plan.direct is NODE_ID:
            return partial(_node_ids, type_name)
        if plan.attribute is not None:
            return partial(_attribute, plan.attribute)
        if plan.row_source == "row":
            return partial(_attribute, "row")
        if plan.row_source == "edges":
            return _edge_rows
        if plan.direct is not None:
            direct = plan.direct
            if rows:
                assert plan.build is not None
                build = plan.build
                return lambda parents: [direct(build(p)) for p in parents]
            return lambda parents: [direct(p) for p in parents]
        return None


class _Unplannable(Exception):
    pass


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


def _node_columns(connection: Selection) -> frozenset[str] | None:
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
            if plan.definition is None or getattr(plan.read, "func", None) is _node_ids:
                continue  # __typename; id
            if plan.batch is not None:
                columns.add(plan.batch.key)  # on rows, the key is a column
            elif index in node.filled or getattr(plan.read, "func", None) is _column:
                assert plan.attribute is not None
                columns.add(plan.attribute)
            else:
                return None
    return frozenset(columns)


def _null() -> Any:
    raise Fallback  # null in a non-null field: the ordinary path propagates it


def _generate_fill(
    plans: list[FieldPlan], type_name: str
) -> tuple[Callable[[list[Any], list[dict[str, Any]]], None], frozenset[int]]:
    """Python source for `fill(rows, outs)`: for each row, every key of the selection in
    field order, the leaves computed inline from the row's columns (`None` for the fields
    the executor resolves afterwards). One statement per field, no loop per field."""
    env: dict[str, Any] = {"b2a": binascii.b2a_base64, "_null": _null}
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
            and getattr(plan.read, "func", None) is _column
        ):
            column = repr(plan.attribute)
            env[f"c{index}"] = plan.coerce or shape.leaf.coerce_output_value
            missing = "None" if shape.nullable else "_null()"
            if shape.leaf is GraphQLString:
                value = f"v if type(v := r[{column}]) is str else (c{index}(v) if v is not None else {missing})"
            else:
                value = f"c{index}(v) if (v := r[{column}]) is not None else {missing}"
            body.append(f"        o[{key}] = {value}")
            filled.add(index)
        elif plan.read is not None and getattr(plan.read, "func", None) is _node_ids:
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


def _enum_output(leaf: Any, raw: bool = False) -> Callable[[Any], Any] | None:
    """Strawberry's enum output scans the enum's values for each one; a dict lookup gives
    the same name (the first whose value matches) at once. `raw`: the values are a row's,
    not the enum's members (from_row would have made members of them)."""
    wrapped = enum_class(leaf)
    if not isinstance(leaf, GraphQLEnumType) or wrapped is None:
        return None
    names: dict[Any, str] = {}
    for name, value in leaf.values.items():
        names.setdefault(value.value, name)
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


def _column(name: str, rows: list[Any]) -> list[Any]:
    return [row[name] for row in rows]


def _attribute(name: str, objects: list[Any]) -> list[Any]:
    return [getattr(o, name) for o in objects]


def _node_ids(type_name: str, rows: list[Any]) -> list[Any]:
    return [encode_id(type_name, row["id"]) for row in rows]


def _edge_rows(connections: list[Any]) -> list[Any]:
    return [[edge.row for edge in connection.edges] for connection in connections]


def _named(shape: Shape | None) -> Any:
    while shape is not None and shape.list_of is not None:
        shape = shape.list_of
    if shape is None:
        return None
    return shape.leaf or shape.object_type or shape.abstract


def _specified() -> Sequence[type[ASTValidationRule]]:
    from graphql import specified_rules

    return specified_rules


def _directive_variables(document: DocumentNode) -> tuple[str, ...]:
    """Variables that @skip/@include read: their values pick the plan."""
    found: list[str] = []

    class Reads(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value in ("skip", "include"):
                for argument in node.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        found.append(argument.value.name.value)

    visit(document, Reads())
    return tuple(sorted(set(found)))
