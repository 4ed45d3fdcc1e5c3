"""Compiled execution of read operations.

graphql-core resolves a response field by field, each through several layers of Python
(path bookkeeping, middleware, awaitable checks, completion by type); on a 100-row page of
contracts with their supplier and agency that is most of the request's CPU. For a query,
this module builds a plan once — per document, operation name and the values of the
Boolean variables that `@skip`/`@include` may read — that mirrors the selection set after
fragments are merged and directives applied, and then runs it level by level:

- a field without a resolver of its own reads the object's attribute;
- a field with a resolver calls that same resolver (with the same argument coercion), for
  every parent object of the level at once, so the DataLoaders behind relations and child
  connections make one batched load per relation per level, through the same cache tiers;
- values are completed as graphql-core completes them (`coerce_output_value` of scalars and
  enums, lists, `__typename`, the runtime type of an interface), into plain dicts in field
  order, which the view encodes with orjson.

The ordinary (Strawberry) path runs instead, chosen per operation at plan time, for what the
planner does not cover: mutations and subscriptions, introspection, a document that does
not parse or validate, and variables that do not coerce; and, at run time, whenever a
resolver raises or a non-null field comes out null. Reads have no side effects, so running
such an operation again on the ordinary path gives exactly the answer, errors, paths and
locations included, that the ordinary path gives. Each choice is logged once per plan and
counted in `cidadao_ai_execution_path_total`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
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
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import VariableNode, Visitor, visit

from cidadao_gql.schema.relay import BATCH, ROW_TYPES, ROWS, encode_id

log = logging.getLogger("cidadao_gql.compiled")
TYPENAME = "__typename"
_NOT_PLANNABLE = object()


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
    # Subfields of object values: one selection for an object type, one per runtime type
    # (filled as runtime types show up) for an interface.
    children: list[FieldPlan] | None = None
    by_runtime_type: dict[str, list[FieldPlan]] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    operation: OperationDefinitionNode
    document: DocumentNode
    root: list[FieldPlan]
    fragments: dict[str, FragmentDetails]


class _Run:
    """One execution: what every level needs, and the actual cost as it adds up."""

    __slots__ = ("cost", "info", "variables", "weigh", "weights")

    def __init__(
        self,
        info: _Info,
        variables: VariableValues,
        weigh: Callable[[GraphQLObjectType, FieldPlan], int],
    ) -> None:
        self.info = info
        self.variables = variables
        self.weigh = weigh
        self.weights: dict[int, int] = {}
        self.cost = 0

    def weight(self, plan: FieldPlan) -> int:
        found = self.weights.get(id(plan))
        if found is None:
            assert plan.parent is not None
            found = self.weights[id(plan)] = self.weigh(plan.parent, plan)
        return found


class _Info:
    """What our resolvers read of `info`: the context (see resolvers: `info.context`)."""

    __slots__ = ("context", "field_name", "path")

    def __init__(self, context: Any) -> None:
        self.context = context
        self.field_name = ""
        self.path = None


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
        return None if cached is _NOT_PLANNABLE else cached  # type: ignore[return-value]

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
    ) -> list[FieldPlan]:
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
            strawberry_field = (definition.extensions or {}).get("strawberry-definition")
            attribute = (
                strawberry_field.python_name
                if strawberry_field is not None and strawberry_field.is_basic_field
                else None
            )
            plan = FieldPlan(key, name, details, definition, attribute, shape_of(definition.type))
            plan.parent = parent
            named = _named(plan.shape)
            metadata = (strawberry_field.metadata or {}) if strawberry_field is not None else {}
            child_rows = False
            if named is not None and is_leaf_type(named):
                plan.coerce = _enum_output(named, raw=rows)
            if rows:
                plan.build = parent_class.from_row  # type: ignore[union-attr]
            if attribute is None and strawberry_field is not None:
                plan.direct = _pure(strawberry_field)
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
        if rows and name == "id" and getattr(plan.direct, "__qualname__", "") == "Node.id":
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


def _null() -> Any:
    raise Fallback  # null in a non-null field: the ordinary path propagates it


def _generate_fill(
    plans: list[FieldPlan], type_name: str
) -> tuple[Callable[[list[Any], list[dict[str, Any]]], None], frozenset[int]]:
    """Python source for `fill(rows, outs)`: for each row, every key of the selection in
    field order, the leaves computed inline from the row's columns (`None` for the fields
    the executor resolves afterwards). One statement per field, no loop per field."""
    env: dict[str, Any] = {"encode_id": encode_id, "_null": _null}
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
            and plan.read.func is _column  # type: ignore[attr-defined]
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
            body.append(f"        o[{key}] = encode_id({type_name!r}, r['id'])")
            filled.add(index)
        else:
            body.append(f"        o[{key}] = None")
    if not plans:  # every field skipped: an empty object per row
        body.append("        pass")
    exec(compile("\n".join(body), f"<compiled selection on {type_name}>", "exec"), env)
    return env["fill"], frozenset(filled)


def _pure(strawberry_field: Any) -> Callable[[Any], Any] | None:
    """The function behind a resolver that takes only `self` (no info, no arguments), is
    synchronous and has no extensions or permissions: it can be called directly."""
    resolver = strawberry_field.base_resolver
    if (
        resolver is None
        or resolver.is_async
        or resolver.arguments
        or strawberry_field.extensions
        or getattr(strawberry_field, "permission_classes", None)
    ):
        return None
    used = [p for name, p in resolver.reserved_parameters.items() if p is not None]
    if len(used) != 1 or getattr(used[0], "name", None) != "self":
        return None
    function: Callable[[Any], Any] = resolver.wrapped_func
    return function


def _enum_output(leaf: Any, raw: bool = False) -> Callable[[Any], Any] | None:
    """Strawberry's enum output scans the enum's values for each one; a dict lookup gives
    the same name (the first whose value matches) at once. `raw`: the values are a row's,
    not the enum's members (from_row would have made members of them)."""
    wrapped = getattr(leaf, "wrapped_cls", None)
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


async def _load(loader: Any, keys: list[Any]) -> dict[Any, Any]:
    """`loader.load_many(keys)`, without a future and a queue entry per key: the keys its
    cache lacks go to its batch function in one call, and their results into its cache (as
    load would have put them there), so later loads in the request, on either path, find
    them. A key another caller is loading is awaited, not loaded twice."""
    cache: dict[Any, asyncio.Future[Any]] = loader._cache  # aiodataloader's per-request map
    missing = [k for k in keys if k not in cache]
    if missing:
        futures = [loader.loop.create_future() for _ in missing]
        cache.update(zip(missing, futures, strict=True))
        try:
            found = await loader.batch_load_fn(missing)
        except BaseException as exc:
            for key, future in zip(missing, futures, strict=True):
                cache.pop(key, None)
                future.cancel()
            raise Fallback from exc
        for future, row in zip(futures, found, strict=True):
            future.set_result(row)
    return {k: (await cache[k]) if not cache[k].done() else cache[k].result() for k in keys}


async def _all(awaitables: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*awaitables))


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


class Executor:
    """Runs plans; `execute` answers None when the ordinary path must run instead."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    def prepare(
        self, query: str, variable_values: dict[str, Any] | None, operation_name: str | None
    ) -> tuple[Plan, VariableValues] | None:
        """The plan and coerced variables of a query, or None for the ordinary path."""
        found = self.planner.document(query)
        if found is None:
            return None
        document, reads = found
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return None
        variables = get_variable_values(
            self.planner.schema, operation.variable_definitions or (), variable_values or {}
        )
        if isinstance(variables, list):  # they do not coerce: the ordinary path says why
            return None
        plan = self.planner.plan(query, operation_name, variables, reads)
        return None if plan is None else (plan, variables)

    async def run(
        self,
        plan: Plan,
        variables: VariableValues,
        context: Any,
        weigh: Callable[[GraphQLObjectType, FieldPlan], int],
    ) -> tuple[dict[str, Any], int] | None:
        """The response's data and its actual cost (each non-null field's weight, as
        `weigh` gives it: the cost analysis' own), or None when the ordinary path must
        answer instead."""
        data: dict[str, Any] = {}
        run = _Run(_Info(context), variables, weigh)
        try:
            await self._level(plan.root, [None], [data], run)
        except Fallback as reason:
            log.debug("compiled execution fell back: %r", reason.__cause__)
            return None
        return data, run.cost

    async def _level(
        self,
        fields: list[FieldPlan],
        parents: list[Any],
        outs: list[dict[str, Any]],
        run: _Run,
    ) -> None:
        info, variables = run.info, run.variables
        fill = getattr(fields, "fill", None)
        if fill is not None:  # generated for this selection: its leaves, straight from rows
            try:
                fill(parents, outs)
            except Fallback:
                raise
            except Exception as exc:
                raise Fallback from exc
            filled: frozenset[int] = fields.filled  # type: ignore[attr-defined]
        else:
            filled = frozenset()
            for out in outs:  # keys in field order, whatever order values arrive in
                for plan in fields:
                    out[plan.key] = None
        resolved: list[list[Any]] = [[] for _ in fields]
        awaiting: list[Awaitable[Any]] = []
        finish: list[Callable[[Any], None]] = []
        objects: list[Any] | None = None  # the parents' objects, when rows must become them
        for index, plan in enumerate(fields):
            if plan.definition is None or index in filled:  # __typename, or done
                continue
            if plan.read is not None:
                try:
                    resolved[index] = plan.read(parents)
                except Fallback:
                    raise
                except Exception as exc:
                    raise Fallback from exc
            elif plan.batch is not None:
                awaiting.append(self._batch(plan, plan.batch, parents, info))
                finish.append(partial(resolved.__setitem__, index))
            else:
                arguments = (
                    get_argument_values(plan.definition, plan.details[0].node, variables)
                    if plan.definition.args
                    else {}
                )
                resolve = plan.definition.resolve
                assert resolve is not None
                sources = parents
                if plan.build is not None:
                    if objects is None:
                        objects = [plan.build(p) for p in parents]
                    sources = objects
                try:
                    values = [resolve(p, info, **arguments) for p in sources]
                except Exception as exc:
                    raise Fallback from exc
                if values and inspect.isawaitable(values[0]):
                    awaiting.append(_all(values))
                    finish.append(partial(resolved.__setitem__, index))
                else:
                    resolved[index] = values
        if awaiting:
            for done, result in zip(
                finish, await asyncio.gather(*awaiting, return_exceptions=True), strict=True
            ):
                if isinstance(result, BaseException):
                    raise Fallback from result
                done(result)
        deeper: list[tuple[list[FieldPlan], list[Any], list[dict[str, Any]]]] = []
        for index, (plan, values) in enumerate(zip(fields, resolved, strict=True)):
            if index in filled:
                if plan.definition is not None and run.weight(plan):
                    present = sum(1 for out in outs if out[plan.key] is not None)
                    run.cost += run.weight(plan) * present
                continue
            if plan.definition is None:
                for out in outs:
                    out[plan.key] = plan.typename
                continue
            shape = plan.shape
            assert shape is not None
            key = plan.key
            weight = run.weight(plan)
            if weight:
                run.cost += weight * sum(1 for value in values if value is not None)
            if shape.leaf is not None:  # the common cases, inline: a scalar...
                coerce = plan.coerce or shape.leaf.coerce_output_value
                strings = shape.leaf is GraphQLString  # a str is its own output
                for value, out in zip(values, outs, strict=True):
                    if value is None:
                        if not shape.nullable:
                            raise Fallback  # null in a non-null field
                    elif strings and type(value) is str:
                        out[key] = value
                    else:
                        out[key] = coerce(value)
            elif shape.object_type is not None:  # ... and one object
                assert plan.children is not None
                children, children_out = [], []
                for value, out in zip(values, outs, strict=True):
                    if value is None:
                        if not shape.nullable:
                            raise Fallback
                    else:
                        child: dict[str, Any] = {}
                        out[key] = child
                        children.append(value)
                        children_out.append(child)
                deeper.append((plan.children, children, children_out))
            else:
                for value, out in zip(values, outs, strict=True):
                    out[key] = self._complete(plan, shape, value, deeper)
        if deeper:
            await asyncio.gather(*(self._level(f, p, o, run) for f, p, o in _grouped(deeper)))

    @staticmethod
    async def _batch(plan: FieldPlan, batch: Batch, parents: list[Any], info: _Info) -> list[Any]:
        """One load of the relation for every parent of the level."""
        nullable = plan.shape is not None and plan.shape.nullable
        if plan.build is not None:  # parents are rows: the key is a column
            keys = [p[batch.key] for p in parents]
        else:
            keys = [getattr(p, batch.key) for p in parents]
        unique = list(dict.fromkeys(k for k in keys if k is not None))
        rows = await _load(getattr(info.context.loaders, batch.loader), unique)
        build = batch.build
        values: list[Any] = []
        for key in keys:
            if key is None:
                values.append(None)
                continue
            row = rows[key]
            if row is None:
                if not nullable:  # a required row missing: the resolver raises, so must we
                    raise Fallback
                values.append(None)
                continue
            values.append(row if build is None else build(row))
        return values

    def _complete(
        self,
        plan: FieldPlan,
        shape: Shape,
        value: Any,
        deeper: list[tuple[list[FieldPlan], list[Any], list[dict[str, Any]]]],
    ) -> Any:
        if value is None:
            if shape.nullable:
                return None
            raise Fallback  # null in a non-null field: the ordinary path propagates it
        if shape.leaf is not None:
            coerced = shape.leaf.coerce_output_value(value)
            if coerced is None:
                raise Fallback
            return coerced
        if shape.list_of is not None:
            return [self._complete(plan, shape.list_of, item, deeper) for item in value]
        if shape.object_type is not None:
            children = plan.children
        else:
            name = self.planner.types_by_class.get(type(value))
            children = plan.by_runtime_type.get(name) if name else None
        if children is None:
            raise Fallback
        out: dict[str, Any] = {}
        deeper.append((children, [value], [out]))
        return out


def _grouped(
    deeper: list[tuple[list[FieldPlan], list[Any], list[dict[str, Any]]]],
) -> list[tuple[list[FieldPlan], list[Any], list[dict[str, Any]]]]:
    """Objects of the same selection, across all parents, as one level (one batch)."""
    groups: dict[int, tuple[list[FieldPlan], list[Any], list[dict[str, Any]]]] = {}
    for fields, parents, outs in deeper:
        group = groups.get(id(fields))
        if group is None:
            groups[id(fields)] = (fields, list(parents), list(outs))
        else:
            group[1].extend(parents)
            group[2].extend(outs)
    return list(groups.values())


def types_by_class(strawberry_schema: Any) -> dict[type, str]:
    """The GraphQL object type of each Python class the resolvers return."""
    found: dict[type, str] = {}
    for name, graphql_type in strawberry_schema.schema_converter.type_map.items():
        definition = getattr(graphql_type, "definition", None)
        origin = getattr(definition, "origin", None)
        if isinstance(graphql_type.implementation, GraphQLObjectType) and isinstance(origin, type):
            if getattr(definition, "is_graphql_generic", False):
                continue
            found.setdefault(origin, name)
    return found


__all__ = ["Executor", "Fallback", "Planner", "types_by_class"]
