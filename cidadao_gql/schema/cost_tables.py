"""The cost model's weights, as plain data, and the `@cost` and `@listSize` directives that
show them in the schema; cidadao_gql.execution.costs prices operations with them (its
docstring states the rules)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from strawberry.schema_directive import Location

from cidadao_gql.schema.strawberry_internals import (
    StrawberryList,
    field_python_name,
    object_definition,
    set_field_directives,
    to_camel_case,
)

FIELD_COSTS: dict[str, int] = {
    "Query.spending": 25,  # an aggregate over every contract under the filter
    "*.totalCount": 10,  # a count over the whole filtered list
}
ARGUMENT_COSTS: dict[str, int] = {
    "ContractFilter.search": 10,  # full-text search
    "ProcurementFilter.search": 10,
    "AgencyFilter.search": 5,  # substring match on names (trigram index)
    "SupplierFilter.search": 5,
    # Awards carry no code or agency: read through the code's items (10,540 for the largest
    # code on 1,000,000 contracts) or the agency's procurements and items.
    "AwardFilter.catalogCode": 5,
    "AwardFilter.agency": 5,
}
# Lists without a slicing argument: their resolvers return at most this many, so the
# requested cost stays an upper bound of the actual cost.
LIST_SIZES: dict[str, int] = {
    "Supplier.sanctions": 10,
    "InvestigationEvents.events": 50,  # a batch of the stream (events.batches)
}
SLICING_ARGUMENTS = ("first", "last")
SIZED_FIELDS = ("edges", "nodes")
OBJECT_COST, SCALAR_COST, MUTATION_COST = 1, 0, 10


@strawberry.schema_directive(
    locations=[
        Location.FIELD_DEFINITION,
        Location.ARGUMENT_DEFINITION,
        Location.INPUT_FIELD_DEFINITION,
    ],
    description="Points this field or argument adds to a query's cost (IBM cost model).",
)
class Cost:
    weight: str


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="How a list field's size is known: the arguments that slice it, the fields"
    " that carry the slice, or the size assumed without one (IBM cost model).",
)
class ListSize:
    assumed_size: int | None = None
    slicing_arguments: list[str] | None = None
    sized_fields: list[str] | None = None


def apply_cost_directives(types: Iterable[type]) -> None:
    """Show the tables above in the schema: `@cost` on weighted fields and input fields,
    `@listSize` on every list whose size the cost model reads. Idempotent."""
    for cls in types:
        definition = object_definition(cls)
        for field in definition.fields:
            name = field.graphql_name or to_camel_case(field_python_name(field))
            weight = FIELD_COSTS.get(f"{definition.name}.{name}", FIELD_COSTS.get(f"*.{name}"))
            if definition.is_input:
                weight = ARGUMENT_COSTS.get(f"{definition.name}.{name}")
            directives = list(field.directives)
            if weight is not None and not any(isinstance(d, Cost) for d in directives):
                directives.append(Cost(weight=str(weight)))
            size = _list_size_directive(definition.name, name, field)
            if size is not None and not any(isinstance(d, ListSize) for d in directives):
                directives.append(size)
            set_field_directives(field, directives)


def _list_size_directive(type_name: str, name: str, field: Any) -> ListSize | None:
    slicing = [a.python_name for a in field.arguments if a.python_name in SLICING_ARGUMENTS]
    assumed = LIST_SIZES.get(f"{type_name}.{name}")
    if assumed is not None:
        return ListSize(assumed_size=assumed)
    if not slicing:
        return None
    if isinstance(field.type, StrawberryList):
        return ListSize(slicing_arguments=slicing)
    return ListSize(slicing_arguments=slicing, sized_fields=list(SIZED_FIELDS))
