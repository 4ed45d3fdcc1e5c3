"""`node(id:)`: any object by its global ID."""

from __future__ import annotations

from collections.abc import Callable

import strawberry

from cidadao_gql.data.db import Record
from cidadao_gql.errors import InvalidId
from cidadao_gql.schema.agencies import Agency
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import Contract
from cidadao_gql.schema.procurements import Award, Item, Procurement
from cidadao_gql.schema.relay import Node, decode_id, looked_up
from cidadao_gql.schema.sanctions import Sanction
from cidadao_gql.schema.suppliers import Supplier

# Per type: the loader of its rows by id (a name of data.loaders.Loaders), and its object.
_TYPES: dict[str, tuple[str, Callable[[Record], Node]]] = {
    "Agency": ("agency", Agency.from_row),
    "Supplier": ("supplier", Supplier.from_row),
    "Procurement": ("procurement", Procurement.from_row),
    "Item": ("item", Item.from_row),
    "Award": ("award", Award.from_row),
    "Contract": ("contract", Contract.from_row),
    "Sanction": ("sanction", Sanction.from_row),
}


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="The object with this global ID, or null if there is none.",
        metadata=looked_up({name: loader for name, (loader, _) in _TYPES.items()}),
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, pk = decode_id(id)
        if type_name not in _TYPES:
            raise InvalidId(f"{id!r} is not the ID of any type", id=id)
        loader, build = _TYPES[type_name]
        row = await getattr(info.context.loaders, loader).load(pk)
        return None if row is None else build(row)
