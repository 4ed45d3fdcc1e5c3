"""Plans of read operations: what the compiled executor runs (see the package docstring)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
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

from cidadao_gql.errors import Unplannable
from cidadao_gql.execution.compiled.lookups import why_not_one
from cidadao_gql.execution.compiled.pages import count_pages, fetch_pages, read_page_rows
from cidadao_gql.execution.compiled.selection import (
    Batch,
    FieldPlan,
    PageNode,
    Selection,
    Shape,
    enum_output,
    generate_fill,
    named_type,
    node_columns,
    read_attribute,
    read_column,
    read_edge_rows,
    read_node_ids,
    shape_of,
)
from cidadao_gql.execution.compiled.variables import Signatures, signatures_of
from cidadao_gql.schema.relay import BATCH, COUNT, LIST, LOOKUP, PAGE, ROW_TYPES, ROWS, Node
from cidadao_gql.schema.strawberry_internals import (
    field_metadata,
    field_python_name,
    plain_function,
    resolver_function,
    strawberry_field,
)

log = logging.getLogger("cidadao_gql.compiled")
TYPENAME = "__typename"
_NOT_PLANNABLE = object()
# Node.id reads nothing but the row's id: the planner reads ids straight from rows.
NODE_ID = resolver_function(Node, "id")


@dataclass(slots=True)
class Price:
    """What a plan costs with one set of variables: the requested cost, and `weigh` and
    `each` (the cost analysis' own: a field's weight, and what each object of a list adds)
    with the weights they gave so far, by FieldPlan id."""

    requested: int
    weigh: Callable[[GraphQLObjectType, FieldPlan], int]
    each: Callable[[GraphQLObjectType, FieldPlan], int]
    weights: dict[int, int] = field(default_factory=dict)
    rows: dict[int, int] = field(default_factory=dict)
    # Fields' arguments as their fetches take them (pages.PageNode), by FieldPlan id.
    arguments: dict[int, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    operation: OperationDefinitionNode
    document: DocumentNode
    root: Selection
    fragments: dict[str, FragmentDetails]
    # Loaders that more than one relation of the plan loads through: levels running side by
    # side may share their loads (execute._batch); a loader met once never waits for company.
    shared: frozenset[str] = frozenset()
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
        convert: Callable[[Any, dict[str, Any]], dict[str, Any]],
        max_plans: int = 1024,
    ) -> None:
        self.schema = schema
        self.convert = convert  # a field's arguments as its resolver is given them
        self.rules = rules
        self.max_tokens = max_tokens
        self.types_by_class = types_by_class
        self.classes = {name: cls for cls, name in types_by_class.items()}
        self.max_plans = max_plans
        self._documents: OrderedDict[str, tuple[DocumentNode, tuple[str, ...]] | None] = (
            OrderedDict()
        )
        self._plans: OrderedDict[tuple[Any, ...], Plan | object] = OrderedDict()
        self._operations: OrderedDict[
            tuple[str, str | None], tuple[OperationDefinitionNode, Signatures] | None
        ] = OrderedDict()

    def operation(
        self, query: str, operation_name: str | None
    ) -> tuple[OperationDefinitionNode, Signatures] | None:
        """The operation a request names in a valid document, and the signatures of its
        variables (variables.py), read once; None for the ordinary path."""
        key = (query, operation_name)
        if key in self._operations:
            self._operations.move_to_end(key)
            return self._operations[key]
        found = self.document(query)
        operation = None if found is None else get_operation_ast(found[0], operation_name)
        signatures = (
            None
            if operation is None
            else signatures_of(self.schema, operation.variable_definitions or ())
        )
        kept = None if operation is None or signatures is None else (operation, signatures)
        self._remember(self._operations, key, kept)
        return kept

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
    ) -> Plan | None:
        found = self.document(query)
        if found is None:
            return None
        document, reads = found
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
        except Unplannable as reason:
            return self._ordinary(name, str(reason))
        for plan in root:
            plan.levels = why_not_one(plan)
        log.info("operation %s: compiled plan", name)
        return Plan(operation, document, root, fragments, _shared(root))

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
        pages: bool = False,
    ) -> Selection:
        """Plans of a selection on `parent`, whose values at run time are its rows
        (`rows`: a row type's records, see relay.from_columns), pages (`pages`: a
        connection's, see pages.Page) or its objects."""
        plans = []
        parent_class = self.classes.get(parent.name)
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name == TYPENAME:
                plans.append(FieldPlan(key, name, details, None, None, None, parent.name))
                continue
            if name.startswith("__"):
                raise Unplannable("introspection")
            definition = parent.fields[name]
            field_source = strawberry_field(definition)
            attribute = (
                field_python_name(field_source)
                if field_source is not None and field_source.is_basic_field
                else None
            )
            plan = FieldPlan(key, name, details, definition, attribute, shape_of(definition.type))
            plan.parent = parent
            named = named_type(plan.shape)
            child_rows = child_pages = False
            if named is not None and is_leaf_type(named):
                plan.coerce = enum_output(named, raw=rows)
            if rows:
                # Rows only reach row types, whose classes all have from_row.
                plan.build = getattr(parent_class, "from_row")  # noqa: B009
            if attribute is None and field_source is not None:
                plan.direct = plain_function(field_source)
                child_rows, child_pages = self._marked(plan, field_source, named, rows, pages)
            plan.read = self._reader(plan, parent.name, rows, name)
            if pages and plan.row_source == "edges":
                plan.read = read_page_rows
            if isinstance(named, GraphQLObjectType):
                sub = collect_subfields(
                    self.schema, fragments, variables, operation, named, details
                )
                plan.children = self._fields(
                    named, sub.grouped_field_set, fragments, variables, operation, child_rows,
                    child_pages,
                )  # fmt: skip
                plan.columns = node_columns(plan.children)
                self._listed(plan, field_source, sub, fragments, variables, operation)
            elif named is not None and is_abstract_type(named):
                plan.by_runtime_type = {}
                loaders = field_metadata(field_source).get(LOOKUP, {}) if field_source else {}
                for possible in self.schema.get_possible_types(named):
                    sub = collect_subfields(
                        self.schema, fragments, variables, operation, possible, details
                    )
                    plan.by_runtime_type[possible.name] = self._fields(
                        possible, sub.grouped_field_set, fragments, variables, operation
                    )
                    if possible.name in loaders and self._row_type(possible.name):
                        # the same selection on the type's rows, for one statement (lookups)
                        children = self._fields(
                            possible, sub.grouped_field_set, fragments, variables, operation,
                            rows=True,
                        )  # fmt: skip
                        plan.lookups[possible.name] = (
                            loaders[possible.name], _on_rows(plan, possible, children)
                        )  # fmt: skip
            plans.append(plan)
        selection = Selection(plans)
        if rows:
            selection.fill, selection.filled = generate_fill(plans, parent.name)
        selection.settle()
        return selection

    def _listed(
        self,
        plan: FieldPlan,
        field_source: Any,
        sub: Any,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        operation: OperationDefinitionNode,
    ) -> None:
        """For a list of rows by a column (relay.listed), the same selection planned on the
        type's rows too, for one statement (tree); the levels call its resolver."""
        marked = field_metadata(field_source).get(LIST) if field_source else None
        named = named_type(plan.shape)
        if marked is None or not isinstance(named, GraphQLObjectType):
            return
        if self._row_type(named.name):
            rows = self._fields(named, sub.grouped_field_set, fragments, variables, operation, True)
            plan.listed = (*marked, rows)

    def _marked(
        self, plan: FieldPlan, field_source: Any, named: Any, rows: bool, pages: bool
    ) -> tuple[bool, bool]:
        """What a resolver's metadata says the planner may do instead of calling it (read
        rows, load a relation, fetch pages, count them); whether its values are rows, and
        whether they are pages."""
        metadata: Mapping[str, Any] = field_metadata(field_source)
        child_rows = child_pages = False
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
                    raise Unplannable(f"no from_row for {named.name}")
                plan.batch = Batch(marked[0], marked[1], build)
        source = metadata.get(PAGE)
        if source is not None and isinstance(named, GraphQLObjectType):
            convert = partial(self.convert, field_source)
            plan.page, plan.gather = PageNode(source, convert, rows), fetch_pages
            child_pages = True
        if pages and metadata.get(COUNT):
            plan.gather = count_pages  # one grouped count for the level's pages
        return child_rows, child_pages

    def _row_type(self, name: str) -> bool:
        return self.classes.get(name) in ROW_TYPES

    @staticmethod
    def _reader(
        plan: FieldPlan, type_name: str, rows: bool, name: str
    ) -> Callable[[list[Any]], list[Any]] | None:
        """How a synchronous field's values come from its parents, or None when a resolver
        must be called (or awaited) for them."""
        if plan.batch is not None or plan.gather is not None:
            return None
        if rows and plan.attribute is not None:
            return partial(read_column, plan.attribute)  # the column of the same name
        if rows and name == "id" and plan.direct is NODE_ID:
            return partial(read_node_ids, type_name)
        if plan.attribute is not None:
            return partial(read_attribute, plan.attribute)
        if plan.row_source == "row":
            return partial(read_attribute, "row")
        if plan.row_source == "edges":
            return read_edge_rows
        if plan.direct is not None:
            direct = plan.direct
            if rows:
                assert plan.build is not None
                build = plan.build
                return lambda parents: [direct(build(p)) for p in parents]
            return lambda parents: [direct(p) for p in parents]
        return None


def _on_rows(plan: FieldPlan, object_type: GraphQLObjectType, rows: Selection) -> FieldPlan:
    """An abstract field's plan as one of its object types' on rows (`rows`, planned so)."""
    return replace(
        plan, shape=Shape(True, object_type=object_type), children=rows, by_runtime_type={},
        lookups={},
    )  # fmt: skip


def _shared(root: Selection) -> frozenset[str]:
    """The loaders that more than one relation below `root` loads through."""
    met: list[str] = []
    selections = [root]
    while selections:
        for plan in selections.pop():
            if plan.batch is not None:
                met.append(plan.batch.loader)
            selections.extend(plan.by_runtime_type.values())
            if plan.children is not None:
                selections.append(plan.children)
    return frozenset(name for name in met if met.count(name) > 1)


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
