"""Procurements (contratações) with their items and the results awarded per item."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import Contract
from cidadao_gql.schema.enums import UF, Modality, ProcurementStatus, optional
from cidadao_gql.schema.inputs import checked_year, search_text
from cidadao_gql.schema.relay import (
    DEFAULT_PAGE,
    ChildPage,
    Connection,
    Node,
    batched,
    build,
    child_connection,
    existing,
    from_columns,
    ids_of,
    paged,
    root_connection,
)
from cidadao_gql.taxids import parse_cnpj

if TYPE_CHECKING:
    from cidadao_gql.schema.agencies import Agency
    from cidadao_gql.schema.suppliers import Supplier


ITEMS = ChildPage(sql.ITEMS, "procurement_id", "NUMBER_ASC")
CONTRACTS = ChildPage(sql.CONTRACTS, "procurement_id", "SIGNED_ON_DESC")
AWARDS = ChildPage(sql.AWARDS, "item_id", "ID_ASC")
ALL = ChildPage(
    sql.PROCUREMENTS, None, "PUBLISHED_AT_DESC", lambda a: procurement_filter(a.get("filter"))
)


@from_columns
@strawberry.type(description="A procurement process published in PNCP.")
class Procurement(Node):
    agency_id: strawberry.Private[int]
    pncp_control_number: str = strawberry.field(description="PNCP key: CNPJ-1-SEQUENCE/YEAR.")
    year: int
    sequence: int
    number: str | None
    process: str | None
    modality: Modality
    status: ProcurementStatus | None
    legal_basis: str | None
    object: str
    estimated_total: Decimal | None
    homologated_total: Decimal | None
    srp: bool | None = strawberry.field(description="Price registration (registro de preços).")
    uf: UF | None
    municipality: str | None
    published_at: datetime
    opening_at: datetime | None
    closing_at: datetime | None

    @classmethod
    def from_row(cls, row: Record) -> Procurement:
        return build(
            cls,
            row,
            modality=Modality(row["modality"]),
            status=optional(ProcurementStatus, row["status"]),
            uf=optional(UF, row["uf"]),
        )

    @strawberry.field(metadata=batched("agency", "agency_id"))
    async def agency(
        self, info: Info
    ) -> Annotated[Agency, strawberry.lazy("cidadao_gql.schema.agencies")]:
        from cidadao_gql.schema.agencies import Agency

        return Agency.from_row(existing(await info.context.loaders.agency.load(self.agency_id)))

    @strawberry.field(
        description="Items in this procurement, by item number.", metadata=paged(ITEMS)
    )
    async def items(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Item]:
        return await child_connection(info, ITEMS, self.pk, Item.from_row, first=first, after=after)

    @strawberry.field(
        description="Contracts signed from this procurement.", metadata=paged(CONTRACTS)
    )
    async def contracts(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Contract]:
        return await child_connection(
            info, CONTRACTS, self.pk, Contract.from_row, first=first, after=after
        )


@from_columns
@strawberry.type(description="One item of a procurement: what, how many, at what estimated price.")
class Item(Node):
    procurement_id: strawberry.Private[int]
    number: int
    description: str
    catalog_code: str | None = strawberry.field(description="CATMAT/CATSER-style code.")
    unit: str | None = strawberry.field(description="Unit of supply, as the agency wrote it.")
    quantity: Decimal | None
    estimated_unit_price: Decimal | None
    estimated_total: Decimal | None

    @classmethod
    def from_row(cls, row: Record) -> Item:
        return build(cls, row)

    @strawberry.field(metadata=batched("procurement", "procurement_id"))
    async def procurement(self, info: Info) -> Procurement:
        return Procurement.from_row(
            existing(await info.context.loaders.procurement.load(self.procurement_id))
        )

    @strawberry.field(description="Results awarded for this item.", metadata=paged(AWARDS))
    async def awards(
        self, info: Info, first: int = DEFAULT_PAGE, after: str | None = None
    ) -> Connection[Award]:
        return await child_connection(
            info, AWARDS, self.pk, Award.from_row, first=first, after=after
        )


@from_columns
@strawberry.type(description="A result: an item awarded to a supplier at a unit price.")
class Award(Node):
    item_id: strawberry.Private[int]
    supplier_id: strawberry.Private[int]
    sequence: int
    quantity: Decimal | None
    unit_price: Decimal | None
    total: Decimal | None
    awarded_on: date | None
    status: str | None

    @classmethod
    def from_row(cls, row: Record) -> Award:
        return build(cls, row)

    @strawberry.field(metadata=batched("item", "item_id"))
    async def item(self, info: Info) -> Item:
        return Item.from_row(existing(await info.context.loaders.item.load(self.item_id)))

    @strawberry.field(metadata=batched("supplier", "supplier_id"))
    async def supplier(
        self, info: Info
    ) -> Annotated[Supplier, strawberry.lazy("cidadao_gql.schema.suppliers")]:
        from cidadao_gql.schema.suppliers import Supplier

        return Supplier.from_row(
            existing(await info.context.loaders.supplier.load(self.supplier_id))
        )


@strawberry.input(description="Procurements matching all the given conditions.")
class ProcurementFilter:
    agency: strawberry.ID | None = None
    agency_cnpj: str | None = None
    uf: UF | None = None
    modality: Modality | None = None
    status: ProcurementStatus | None = None
    year: int | None = strawberry.field(default=None, description="From 1900 to 2100.")
    published_from: date | None = None
    published_to: date | None = None
    value_min: Decimal | None = strawberry.field(default=None, description="On estimated total.")
    value_max: Decimal | None = strawberry.field(default=None, description="On estimated total.")
    search: str | None = strawberry.field(
        default=None, description="Full-text search on the object, in Portuguese (web syntax)."
    )

    def to_filter(self) -> filters.ProcurementFilter:
        return filters.ProcurementFilter(
            agency_ids=ids_of(self.agency, "Agency"),
            agency_cnpj=None if self.agency_cnpj is None else parse_cnpj(self.agency_cnpj),
            uf=None if self.uf is None else self.uf.value,
            modality=None if self.modality is None else self.modality.value,
            status=None if self.status is None else self.status.value,
            year=checked_year(self.year),
            published_from=self.published_from,
            published_to=self.published_to,
            value_min=self.value_min,
            value_max=self.value_max,
            search=search_text(self.search),
        )


def procurement_filter(given: ProcurementFilter | None) -> filters.ProcurementFilter:
    return (given or ProcurementFilter()).to_filter()


@strawberry.type
class ProcurementQueries:
    @strawberry.field(description="Procurements, newest publication first.", metadata=paged(ALL))
    async def procurements(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: ProcurementFilter | None = None,
    ) -> Connection[Procurement]:
        return await root_connection(
            info, ALL, Procurement.from_row, first=first, after=after, filter=filter
        )
