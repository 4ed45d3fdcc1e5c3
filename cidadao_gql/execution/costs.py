"""Query cost on the IBM GraphQL cost-directive model, computed before any resolver runs.

The rules, with the weights kept as plain data in the tables of cidadao_gql.schema.cost_tables
(the schema shows them as `@cost` and `@listSize`):

- A field costs its weight: FIELD_COSTS when listed there ("Type.field", or "*.field" for
  every type), else 1 for an object or a list of objects and 0 for a scalar or an enum;
  a mutation's root field costs 10 unless listed.
- An argument, or a field of an input object argument, that is given adds its weight
  from ARGUMENT_COSTS (text search is the heavy one).
- A list field costs its weight, plus its rows (ROW_COST points per ROWS_PER_POINT
  objects, rounded up per list: `rows_cost`) when it is a list of objects of known size,
  plus its size times the cost of one element's selection. The size is the
  `first`/`last` it asks for (a literal, a variable or the argument's default); a
  connection hands its size to its `edges` and `nodes`; a list with no size argument
  takes its assumed size from LIST_SIZES (1 when not listed, and then its rows are free:
  `Viewer.keys`). The tables make a connection's wrappers and to-one relations by key
  weigh 0, so a page costs its connection field and its rows (cost_tables says why).
- Introspection (`__schema`, `__type` and what hangs below them) is priced exactly: those
  root fields alone are executed against the schema (graphql-core's introspection
  resolvers are synchronous and read nothing but the schema) and their answer weighed as
  the actual cost weighs it, so the price is the actual cost. An introspection object
  weighs a fifth of an object (INTROSPECTION_SCALE; each root field's total rounded up):
  it is read from memory, not from the database, and one document's introspection is
  bounded by INTROSPECTION_WORK resolutions and one `__schema`, so the points only need
  to keep bulk introspection dear. At one point per object GraphiQL's introspection query
  cost 969 of the default 1000 and the next few fields of the schema would have refused it;
  at a fifth it costs 194, a schema twice as large about 390, while every type's fields'
  types' fields with the root type 25 times over (19,351 resolutions) costs 1,152.

The actual cost applies the same weights to what the response holds, element by element.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    execute_sync,
    get_named_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
    value_from_ast,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.utilities import value_from_ast_untyped

from cidadao_gql.schema.cost_tables import (
    ARGUMENT_COSTS,
    FIELD_COSTS,
    LIST_SIZES,
    MUTATION_COST,
    OBJECT_COST,
    ROW_COST,
    ROWS_PER_POINT,
    SCALAR_COST,
    SIZED_FIELDS,
    SLICING_ARGUMENTS,
)
from cidadao_gql.schema.relay import MAX_PAGE

COST_CEILING = 2**53 - 1  # the largest integer every JSON reader holds exactly
INTROSPECTION_FIELDS = ("__schema", "__type")
INTROSPECTION_PRICES = 256  # exact prices kept, by document, operation and variables
# Field resolutions one document's introspection may take to be priced (GraphiQL's query
# takes 4,917): aliased copies of `__schema` would otherwise make pricing itself the
# work. Past it the price is COST_CEILING: refused, having answered nothing.
INTROSPECTION_WORK = 20_000
# Objects of an introspection answer per point (see the module docstring).
INTROSPECTION_SCALE = 5


Selections = list[tuple[GraphQLNamedType, SelectionSetNode]]
# response key, weight, row weight (lists), children, objects per point
_Step = tuple[str, int, int, Selections, int]


@dataclass(frozen=True, slots=True)
class _Field:
    parent: GraphQLNamedType
    definition: GraphQLField
    nodes: tuple[FieldNode, ...]

    @property
    def name(self) -> str:
        return self.nodes[0].name.value

    def children(self) -> Selections:
        named = get_named_type(self.definition.type)
        return [(named, n.selection_set) for n in self.nodes if n.selection_set]


class CostAnalysis:
    """Cost of one operation of a validated document, with its (raw) variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.document = document
        self._resolutions = 0
        self.variables = dict(variables or {})
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        operations: list[OperationDefinitionNode] = []
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments[definition.name.value] = definition
            elif isinstance(definition, OperationDefinitionNode):
                operations.append(definition)
        self.operation = next(
            o
            for o in operations
            if operation_name is None or (o.name and o.name.value == operation_name)
        )
        for variable in self.operation.variable_definitions or ():
            name = variable.variable.name.value
            if name not in self.variables and variable.default_value is not None:
                self.variables[name] = value_from_ast_untyped(variable.default_value)
        root = schema.get_root_type(self.operation.operation)
        assert root is not None
        self.root: Selections = [(root, self.operation.selection_set)]
        self._plans: dict[tuple[tuple[int, int], ...], list[_Step]] = {}
        self._plans_of: dict[int, tuple[Selections, list[_Step]]] = {}

    def requested(self) -> int:
        """The price, saturated at COST_CEILING: `first: 2147483647` three lists deep is
        2^93 points, which JSON clients (and orjson) cannot carry; any price that large is
        refused anyway, and the ceiling still bounds what the answer can cost."""
        return min(self._selections_cost(self.root, None), COST_CEILING)

    def weigh(self, parent: GraphQLNamedType, plan: Any) -> int:
        """The weight of a field of `parent` selected by `plan.details` (the compiled
        executor's plan), as `actual` weighs it."""
        field = _Field(parent, plan.definition, tuple(d.node for d in plan.details))
        return self._weight(field)

    def each(self, parent: GraphQLNamedType, plan: Any) -> int:
        """The row weight of a list field of `parent` (see `rows_cost`), as `actual` has it."""
        return self._row_weight(
            _Field(parent, plan.definition, tuple(d.node for d in plan.details))
        )

    def actual(self, data: Mapping[str, Any] | None) -> int:
        return 0 if data is None else self._objects_actual(self.root, [data])

    # -- walking the document -------------------------------------------------------

    def _collect(self, selections: Selections) -> dict[str, _Field]:
        """Fields by response key, merged the way execution merges them: a fragment spread
        twice in one selection adds its fields once (graphql-core's collect_fields skips
        the second spread too), so a chain of fragments each spreading the next twice is
        not walked 2^n times. FieldLimit bounds what is left: fields that differ."""
        grouped: dict[str, list[tuple[GraphQLNamedType, FieldNode]]] = {}
        spread: set[str] = set()
        pending = deque(selections)
        while pending:
            parent, selection_set = pending.popleft()
            for node in selection_set.selections:
                if not self._included(node):
                    continue
                if isinstance(node, FieldNode):
                    key = node.alias.value if node.alias else node.name.value
                    grouped.setdefault(key, []).append((parent, node))
                elif isinstance(node, InlineFragmentNode):
                    pending.append(
                        (self._condition(node.type_condition, parent), node.selection_set)
                    )
                elif isinstance(node, FragmentSpreadNode):
                    if node.name.value in spread:
                        continue
                    spread.add(node.name.value)
                    fragment = self.fragments[node.name.value]
                    pending.append(
                        (self._condition(fragment.type_condition, parent), fragment.selection_set)
                    )
        fields = {}
        for key, found in grouped.items():
            parent, first = found[0]
            definition = self._definition(parent, first.name.value)
            if definition is not None:
                fields[key] = _Field(parent, definition, tuple(n for _, n in found))
        return fields

    def _condition(self, condition: Any, parent: GraphQLNamedType) -> GraphQLNamedType:
        if condition is None:
            return parent
        named = self.schema.get_type(condition.name.value)
        return named if named is not None else parent

    def _included(self, node: Any) -> bool:
        """@skip and @include, as execution applies them."""
        for directive in node.directives or ():
            name = directive.name.value
            if name in ("skip", "include") and directive.arguments:
                value = value_from_ast(directive.arguments[0].value, GraphQLBoolean, self.variables)
                if value is (name == "skip"):
                    return False
        return True

    def _definition(self, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent is self.schema.query_type and name == "__schema":
            return SchemaMetaFieldDef
        if parent is self.schema.query_type and name == "__type":
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return None if fields is None else fields.get(name)

    # -- weights --------------------------------------------------------------------

    def _weight(self, field: _Field) -> int:
        listed = FIELD_COSTS.get(
            f"{field.parent.name}.{field.name}", FIELD_COSTS.get(f"*.{field.name}")
        )
        if listed is not None:
            weight = listed
        elif (
            self.operation.operation is OperationType.MUTATION
            and field.parent is self.schema.mutation_type
        ):
            weight = MUTATION_COST
        elif is_composite_type(get_named_type(field.definition.type)):
            weight = OBJECT_COST
        else:
            weight = SCALAR_COST
        return weight + self._argument_weight(field)

    def _argument_weight(self, field: _Field) -> int:
        weight = 0
        for argument in field.nodes[0].arguments or ():
            definition = field.definition.args.get(argument.name.value)
            if definition is None:
                continue
            weight += ARGUMENT_COSTS.get(
                f"{field.parent.name}.{field.name}.{argument.name.value}", 0
            )
            input_type = get_named_type(definition.type)
            if isinstance(input_type, GraphQLInputObjectType):
                for given in self._given_input_fields(argument.value):
                    weight += ARGUMENT_COSTS.get(f"{input_type.name}.{given}", 0)
        return weight

    def _given_input_fields(self, value: Any) -> Iterable[str]:
        if isinstance(value, ObjectValueNode):
            return [f.name.value for f in value.fields if f.value.kind != "null_value"]
        if isinstance(value, VariableNode):
            raw = self.variables.get(value.name.value)
            return [k for k, v in raw.items() if v is not None] if isinstance(raw, dict) else []
        return []

    def _row_weight(self, field: _Field) -> int:
        """ROW_COST for a list of objects whose size the model knows (sliced, a page's
        `edges`/`nodes`, or an assumed size); 0 for other lists (scalars only, or
        `Viewer.keys`, which no size bounds) and for introspection, priced apart."""
        if not _is_list(field.definition) or field.name.startswith("__"):
            return 0
        if field.parent.name.startswith("__"):
            return 0
        if not is_composite_type(get_named_type(field.definition.type)):
            return 0
        sized = (
            any(name in field.definition.args for name in SLICING_ARGUMENTS)
            or field.name in SIZED_FIELDS
            or f"{field.parent.name}.{field.name}" in LIST_SIZES
        )
        return ROW_COST if sized else 0

    def _page_size(self, field: _Field) -> int | None:
        """The size a field slices itself to, or None when it has no slicing argument."""
        for name in SLICING_ARGUMENTS:
            argument = field.definition.args.get(name)
            if argument is None:
                continue
            node = next((a for a in field.nodes[0].arguments or () if a.name.value == name), None)
            value = (
                argument.default_value
                if node is None
                else value_from_ast(node.value, argument.type, self.variables)
            )
            return max(value, 0) if isinstance(value, int) and not isinstance(value, bool) else 0
        return None

    def _list_size(self, field: _Field, handed_down: int | None) -> int:
        if field.name.startswith("__") or field.parent.name.startswith("__"):
            return 1
        own = self._page_size(field)
        if own is not None:
            return own
        if handed_down is not None:
            return handed_down
        return LIST_SIZES.get(f"{field.parent.name}.{field.name}", 1)

    # -- requested and actual ---------------------------------------------------------

    def _selections_cost(self, selections: Selections, handed_down: int | None) -> int:
        total = 0
        for field in self._collect(selections).values():
            total += self._field_cost(field, handed_down if field.name in SIZED_FIELDS else None)
        return total

    def _field_cost(self, field: _Field, handed_down: int | None) -> int:
        if field.parent is self.schema.query_type and field.name in INTROSPECTION_FIELDS:
            return self._introspection_cost(field)
        weight = self._weight(field)
        if _is_list(field.definition):
            size = self._list_size(field, handed_down)
            # A list never answers more than MAX_PAGE rows: a `first` past it is refused by
            # its resolver (INVALID_PAGE_SIZE), which says so better than a price would.
            rows = rows_cost(self._row_weight(field), min(size, MAX_PAGE))
            return weight + rows + size * self._selections_cost(field.children(), None)
        return weight + self._selections_cost(field.children(), self._page_size(field))

    def _introspection_cost(self, field: _Field) -> int:
        """What the introspection root field `field` actually costs: it alone is executed
        (with the document's fragments and the request's variables), and its answer
        weighed. Kept per document, field and variables: GraphiQL sends the same query
        again and again, and answering it takes some milliseconds."""
        key = (id(self.schema), id(self.document), id(field.nodes[0]), _frozen(self.variables))
        known = _PRICES.get(key)
        if known is not None and known[0] is self.document and known[1] is self.schema:
            _PRICES.move_to_end(key)
            return known[2]
        alone = OperationDefinitionNode(
            operation=OperationType.QUERY,
            variable_definitions=self.operation.variable_definitions,
            directives=(),
            selection_set=SelectionSetNode(selections=field.nodes),
        )
        document = DocumentNode(definitions=(alone, *self.fragments.values()))

        def counted(resolve: Any, parent: Any, info: Any, **arguments: Any) -> Any:
            # Past INTROSPECTION_WORK every field is null: nothing below it is resolved.
            self._resolutions += 1
            return (
                None
                if self._resolutions > INTROSPECTION_WORK
                else resolve(parent, info, **arguments)
            )

        result = execute_sync(
            self.schema, document, variable_values=self.variables, middleware=[counted]
        )
        root: Selections = [(field.parent, alone.selection_set)]
        if self._resolutions > INTROSPECTION_WORK:
            price = COST_CEILING
        else:
            price = 0 if result.data is None else self._objects_actual(root, [result.data])
        _PRICES[key] = (self.document, self.schema, price)
        if len(_PRICES) > INTROSPECTION_PRICES:
            _PRICES.popitem(last=False)
        return price

    def _plan(self, selections: Selections) -> list[_Step]:
        """(response key, weight, row weight, child selections, objects per point)
        of each field, worked out once per selection: the actual cost visits the same selection for every element
        of a list."""
        known = self._plans_of.get(id(selections))
        if known is not None and known[0] is selections:  # the same list object: no key
            return known[1]
        key = tuple((id(parent), id(selection_set)) for parent, selection_set in selections)
        plan = self._plans.get(key)
        if plan is None:
            plan = [
                (
                    name,
                    self._weight(field),
                    self._row_weight(field),
                    field.children(),
                    self._scale(field),
                )
                for name, field in self._collect(selections).items()
            ]
            # Fields that weigh nothing and select nothing add nothing: not visited at all.
            plan = [step for step in plan if step[1] or step[2] or step[3]]
            self._plans[key] = plan
        self._plans_of[id(selections)] = (selections, plan)
        return plan

    def _scale(self, field: _Field) -> int:
        introspection = field.name in INTROSPECTION_FIELDS
        return (
            INTROSPECTION_SCALE if introspection and field.parent is self.schema.query_type else 1
        )

    def _objects_actual(self, selections: Selections, values: list[Mapping[str, Any]]) -> int:
        """What the objects `values` (all answering `selections`) actually cost: each
        non-null field its weight, and its objects theirs. One pass per selection for all
        the objects of a list, not one call per object."""
        total = 0
        for key, weight, each, children, scale in self._plan(selections):
            own = 0
            nested: list[Mapping[str, Any]] = []
            for value in values:
                item = value.get(key)
                if item is None:
                    continue
                own += weight
                if not children:
                    continue
                if isinstance(item, list):
                    objects = [e for e in item if isinstance(e, Mapping)]
                    own += rows_cost(each, len(objects))
                    nested.extend(objects)
                elif isinstance(item, Mapping):
                    nested.append(item)
            if nested:
                own += self._objects_actual(children, nested)
            total += -(-own // scale)  # rounded up: a scaled field's answer costs at least 1
        return total


# Exact introspection prices, least recently used first. A key holds ids, so each entry
# keeps its schema and document alive and is used only while those very ones are priced.
_PRICES: OrderedDict[tuple[int, int, int, str], tuple[DocumentNode, GraphQLSchema, int]] = (
    OrderedDict()
)


def rows_cost(weight: int, rows: int) -> int:
    """What `rows` objects of one list cost: `weight` points per ROWS_PER_POINT of them,
    rounded up for each list (a page of 1 to 5 rows costs a point, of 6 to 10 two)."""
    return weight * -(-rows // ROWS_PER_POINT)


def _frozen(variables: Mapping[str, Any]) -> str:
    return repr(sorted(variables.items()))


def _is_list(field: GraphQLField) -> bool:
    kind = field.type.of_type if is_non_null_type(field.type) else field.type
    return is_list_type(kind)
