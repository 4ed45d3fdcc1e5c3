"""`node(id:)`: any object by its global ID."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from aiodataloader import DataLoader

from cidadao_gql.data.db import Record
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.errors import InvalidId
from cidadao_gql.schema.agencies import Agency
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import Contract
from cidadao_gql.schema.procurements import Award, Item, Procurement
from cidadao_gql.schema.relay import Node, decode_id
from cidadao_gql.schema.sanctions import Sanction
from cidadao_gql.schema.suppliers import Supplier

_TYPES: dict[
    str, tuple[Callable[[Loaders], DataLoader[int, Record | None]], Callable[[Record], Node]]
] = {
    "Agency": (lambda loaders: loaders.agency, Agency.from_row),
    "Supplier": (lambda loaders: loaders.supplier, Supplier.from_row),
    "Procurement": (lambda loaders: loaders.procurement, Procurement.from_row),
    "Item": (lambda loaders: loaders.item, Item.from_row),
    "Award": (lambda loaders: loaders.award, Award.from_row),
    "Contract": (lambda loaders: loaders.contract, Contract.from_row),
    "Sanction": (lambda loaders: loaders.sanction, Sanction.from_row),
}


@strawberry.type
class NodeQueries:
    @strawberry.field(description="The object with this global ID, or null if there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, pk = decode_id(id)
        if type_name not in _TYPES:
            raise InvalidId(f"{id!r} is not the ID of any type", id=id)
        loader, build = _TYPES[type_name]
        row = await loader(info.context.loaders).load(pk)
        return None if row is None else build(row)
