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
    "Supplier.totals": 10,  # a count and a sum over all the supplier's contracts
    # A page is read by its connection field (1 point: one statement, or one index probe
    # per parent); each of its rows costs ROW_COST. `edges`, `nodes`, an edge's `node` and
    # `pageInfo` only hand that page on, so `edges { node }` costs what `nodes` costs.
    "*.edges": 0,
    "*.nodes": 0,
    "*.node": 0,
    "Query.node": 1,  # a row by global ID
    "*.pageInfo": 0,
    # A to-one relation reads at most one row for each row already priced, by primary
    # key, in one batched statement per level and through the row cache tiers (an hour):
    # it rides on its parent row's point. Depth (10) bounds how many hang below one row.
    "Contract.agency": 0,
    "Contract.supplier": 0,
    "Contract.procurement": 0,
    "Procurement.agency": 0,
    "Item.procurement": 0,
    "Award.item": 0,
    "Award.supplier": 0,
    "Sanction.supplier": 0,
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
# requested cost stays an upper bound of the actual cost. A size taken from the data is
# the 99th percentile of children per parent that has any, and at least ASSUMED_FLOOR;
# benchmarks/list_sizes.py measures it from a database (README, "Querying").
ASSUMED_FLOOR = 5
LIST_SIZES: dict[str, int] = {
    # Sanctions per sanctioned supplier, measured 2026-12-07: p99 1, max 1 on the seeded
    # test database (synthetic seed + PNCP sample) and on cgql_bench (1,000,000 contracts,
    # 1,000 sanctions). The synthetic generator sanctions a supplier once and the PNCP
    # sample holds no sanctions, so the floor decides until a real CEIS/CNEP register is
    # loaded, where one company is listed once per sanctioning authority. (It was 10.)
    "Supplier.sanctions": 5,
    "InvestigationEvents.events": 50,  # a batch of the stream (events.batches)
}
SLICING_ARGUMENTS = ("first", "last")
SIZED_FIELDS = ("edges", "nodes")
OBJECT_COST, SCALAR_COST, MUTATION_COST = 1, 0, 10
# A page's rows: ROW_COST points per ROWS_PER_POINT of them, rounded up per page (see
# execution.costs.rows_cost). A nested page costs its connection's point (a probe of
# the index per parent) plus a point per five rows read along that index.
ROW_COST, ROWS_PER_POINT = 1, 5


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
