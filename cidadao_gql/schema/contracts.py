"""Contracts: what an agency signed with a supplier, for how much, and when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.enums import UF, Modality, OrderDirection, optional
from cidadao_gql.schema.inputs import search_text
from cidadao_gql.schema.relay import (
    DEFAULT_PAGE,
    ChildPage,
    Connection,
    Node,
    batched,
    build,
    existing,
    from_columns,
    ids_of,
    paged,
    root_connection,
)
from cidadao_gql.taxids import parse_cnpj, parse_document

if TYPE_CHECKING:
    from cidadao_gql.schema.agencies import Agency
    from cidadao_gql.schema.procurements import Procurement
    from cidadao_gql.schema.suppliers import Supplier


@from_columns
@strawberry.type(description="A contract signed by an agency with a supplier.")
class Contract(Node):
    agency_id: strawberry.Private[int]
    supplier_id: strawberry.Private[int]
    procurement_id: strawberry.Private[int | None]
    number: str
    object: str = strawberry.field(description="What was contracted (objeto).")
    modality: Modality
    uf: UF | None
    initial_value: Decimal = strawberry.field(description="Value when signed, in BRL.")
    final_value: Decimal = strawberry.field(description="Value after amendments, in BRL.")
    signed_on: date
    starts_on: date | None
    ends_on: date | None

    @classmethod
    def from_row(cls, row: Record) -> Contract:
        return build(cls, row, modality=Modality(row["modality"]), uf=optional(UF, row["uf"]))

    @strawberry.field(metadata=batched("agency", "agency_id"))
    async def agency(
        self, info: Info
    ) -> Annotated[Agency, strawberry.lazy("cidadao_gql.schema.agencies")]:
        from cidadao_gql.schema.agencies import Agency

        return Agency.from_row(existing(await info.context.loaders.agency.load(self.agency_id)))

    @strawberry.field(metadata=batched("supplier", "supplier_id"))
    async def supplier(
        self, info: Info
    ) -> Annotated[Supplier, strawberry.lazy("cidadao_gql.schema.suppliers")]:
        from cidadao_gql.schema.suppliers import Supplier

        return Supplier.from_row(
            existing(await info.context.loaders.supplier.load(self.supplier_id))
        )

    @strawberry.field(
        description="The procurement this contract came from, if any.",
        metadata=batched("procurement", "procurement_id"),
    )
    async def procurement(
        self, info: Info
    ) -> Annotated[Procurement, strawberry.lazy("cidadao_gql.schema.procurements")] | None:
        from cidadao_gql.schema.procurements import Procurement

        if self.procurement_id is None:
            return None
        return Procurement.from_row(
            existing(await info.context.loaders.procurement.load(self.procurement_id))
        )


@strawberry.input(description="Contracts matching all the given conditions.")
class ContractFilter:
    agency: strawberry.ID | None = None
    agency_cnpj: str | None = None
    supplier: strawberry.ID | None = None
    supplier_document: str | None = strawberry.field(default=None, description="CNPJ or CPF.")
    uf: UF | None = None
    modality: Modality | None = None
    signed_from: date | None = None
    signed_to: date | None = None
    value_min: Decimal | None = strawberry.field(default=None, description="On final value.")
    value_max: Decimal | None = strawberry.field(default=None, description="On final value.")
    search: str | None = strawberry.field(
        default=None, description="Full-text search on the object, in Portuguese (web syntax)."
    )

    def to_filter(self) -> filters.ContractFilter:
        return filters.ContractFilter(
            agency_ids=ids_of(self.agency, "Agency"),
            agency_cnpj=None if self.agency_cnpj is None else parse_cnpj(self.agency_cnpj),
            supplier_ids=ids_of(self.supplier, "Supplier"),
            supplier_document=(
                None if self.supplier_document is None else parse_document(self.supplier_document)
            ),
            uf=None if self.uf is None else self.uf.value,
            modality=None if self.modality is None else self.modality.value,
            signed_from=self.signed_from,
            signed_to=self.signed_to,
            value_min=self.value_min,
            value_max=self.value_max,
            search=search_text(self.search),
        )


def contract_filter(given: ContractFilter | None) -> filters.ContractFilter:
    return (given or ContractFilter()).to_filter()


def contract_where(arguments: Mapping[str, Any]) -> filters.ContractFilter:
    """The filter of a contracts connection's arguments (`filter`)."""
    return contract_filter(arguments.get("filter"))


@strawberry.enum
class ContractOrderField(Enum):
    SIGNED_ON = "SIGNED_ON"
    VALUE = "VALUE"


@strawberry.input
class ContractOrder:
    field: ContractOrderField = ContractOrderField.SIGNED_ON
    direction: OrderDirection = OrderDirection.DESC

    def name(self) -> str:
        return f"{self.field.value}_{self.direction.value}"


def contract_ordering(order: ContractOrder | None) -> str:
    return (order or ContractOrder()).name()


def contract_order(arguments: Mapping[str, Any]) -> str:
    """The ordering of a contracts connection's arguments (`orderBy`)."""
    return contract_ordering(arguments.get("order_by"))


CONTRACTS = ChildPage(sql.CONTRACTS, None, contract_order, contract_where)


@strawberry.type
class ContractQueries:
    @strawberry.field(
        description="Contracts, newest signature first unless `orderBy` says otherwise.",
        metadata=paged(CONTRACTS),
    )
    async def contracts(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: ContractFilter | None = None,
        order_by: ContractOrder | None = None,
    ) -> Connection[Contract]:
        return await root_connection(
            info, CONTRACTS, Contract.from_row,
            first=first, after=after, filter=filter, order_by=order_by,
        )  # fmt: skip
