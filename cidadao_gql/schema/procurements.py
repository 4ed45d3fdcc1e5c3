"""Procurements (contratações) with their items and the results awarded per item."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import (
    Contract,
    ContractFilter,
    ContractOrder,
    contract_order,
    where_of_contracts,
)
from cidadao_gql.schema.enums import (
    UF,
    Modality,
    OrderDirection,
    ProcurementStatus,
    Sphere,
    optional,
)
from cidadao_gql.schema.inputs import checked_year, chosen, search_text
from cidadao_gql.schema.relay import (
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
CONTRACTS = ChildPage(sql.CONTRACTS, "procurement_id", contract_order, where_of_contracts)
AWARDS = ChildPage(sql.AWARDS, "item_id", "ID_ASC")


@strawberry.enum(description="What procurements can be ordered by.")
class ProcurementOrderField(Enum):
    PUBLISHED_AT = strawberry.enum_value(
        "PUBLISHED_AT", description="When it was published in PNCP (data de publicação)."
    )
    VALUE = strawberry.enum_value(
        "VALUE",
        description="Its estimated total (valor total estimado); one without an estimate as zero.",
    )


@strawberry.input(description="How to order procurements: by which field, in which direction.")
class ProcurementOrder:
    field: ProcurementOrderField = strawberry.field(
        default=ProcurementOrderField.PUBLISHED_AT, description="What to order by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.DESC,
        description="Smallest or oldest first (ASC), or largest or newest (DESC).",
    )


def procurement_order(arguments: Mapping[str, Any]) -> str:
    """The ordering of a procurements connection's arguments (`orderBy`)."""
    order = arguments.get("order_by") or ProcurementOrder()
    return f"{order.field.value}_{order.direction.value}"


ALL = ChildPage(
    sql.PROCUREMENTS, None, procurement_order, lambda a: procurement_where(a.get("filter"))
)


@from_columns
@strawberry.type(
    description="A procurement (contratação, licitação) published in PNCP, the national portal:"
    " what an agency set out to buy, how, and its items."
)
class Procurement(Node):
    agency_id: strawberry.Private[int]
    pncp_control_number: str = strawberry.field(description="PNCP key: CNPJ-1-SEQUENCE/YEAR.")
    year: int = strawberry.field(description="Year in its PNCP key.")
    sequence: int = strawberry.field(description="Sequence number in its PNCP key.")
    number: str | None = strawberry.field(
        description="The agency's own number for it (número da compra)."
    )
    process: str | None = strawberry.field(description="The agency's process number (processo).")
    modality: Modality = strawberry.field(
        description="How the supplier is chosen (modalidade): pregão, dispensa…"
    )
    status: ProcurementStatus | None = strawberry.field(
        description="Published, revoked, annulled or suspended (situação)."
    )
    legal_basis: str | None = strawberry.field(
        description="The law it rests on (amparo legal), e.g. Lei 14.133/2021, art. 28, I."
    )
    object: str = strawberry.field(
        description="What is being bought (objeto), in the agency's words."
    )
    estimated_total: Decimal | None = strawberry.field(
        description="Estimated total (valor estimado), in reais."
    )
    homologated_total: Decimal | None = strawberry.field(
        description="Total of the winning bids once approved (valor homologado), in reais."
    )
    srp: bool | None = strawberry.field(description="Price registration (registro de preços).")
    uf: UF | None = strawberry.field(description="The state (UF) of the buying unit.")
    municipality: str | None = strawberry.field(
        description="The town (município) of the buying unit."
    )
    published_at: datetime = strawberry.field(description="When it was published in PNCP.")
    opening_at: datetime | None = strawberry.field(
        description="When bids open (abertura das propostas)."
    )
    closing_at: datetime | None = strawberry.field(
        description="When bids close (encerramento das propostas)."
    )

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
        description="What is being bought, item by item (itens), by item number.",
        metadata=paged(ITEMS),
    )
    async def items(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Item]:
        return await child_connection(
            info, ITEMS, self.pk, Item.from_row, first=first, after=after, last=last, before=before
        )

    @strawberry.field(
        description="Contracts (contratos) signed from this procurement.", metadata=paged(CONTRACTS)
    )
    async def contracts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ContractFilter | None = None,
        order_by: ContractOrder | None = None,
    ) -> Connection[Contract]:
        return await child_connection(
            info, CONTRACTS, self.pk, Contract.from_row, first=first, after=after,
            last=last, before=before, filter=filter, order_by=order_by,
        )  # fmt: skip


@from_columns
@strawberry.type(
    description="One item (item) of a procurement: what, how many, at what estimated price."
)
class Item(Node):
    procurement_id: strawberry.Private[int]
    number: int = strawberry.field(description="Its number in the procurement.")
    description: str = strawberry.field(
        description="What it is (descrição), in the agency's words."
    )
    catalog_code: str | None = strawberry.field(
        description="Catalogue code (CATMAT for goods, CATSER for services): the same code is the"
        " same thing, whoever buys it."
    )
    unit: str | None = strawberry.field(description="Unit of supply, as the agency wrote it.")
    quantity: Decimal | None = strawberry.field(description="How many units (quantidade).")
    estimated_unit_price: Decimal | None = strawberry.field(
        description="Estimated price of one unit (valor unitário estimado), in reais."
    )
    estimated_total: Decimal | None = strawberry.field(
        description="Estimated price of them all (valor total estimado), in reais."
    )

    @classmethod
    def from_row(cls, row: Record) -> Item:
        return build(cls, row)

    @strawberry.field(metadata=batched("procurement", "procurement_id"))
    async def procurement(self, info: Info) -> Procurement:
        return Procurement.from_row(
            existing(await info.context.loaders.procurement.load(self.procurement_id))
        )

    @strawberry.field(
        description="Who won this item, how many and at what unit price (resultados).",
        metadata=paged(AWARDS),
    )
    async def awards(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Award]:
        return await child_connection(
            info,
            AWARDS,
            self.pk,
            Award.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
        )


@from_columns
@strawberry.type(
    description="A result (resultado): an item awarded to a supplier, how many, at what unit price."
)
class Award(Node):
    item_id: strawberry.Private[int]
    supplier_id: strawberry.Private[int]
    sequence: int = strawberry.field(description="Its number among the item's results.")
    quantity: Decimal | None = strawberry.field(
        description="Units awarded (quantidade homologada)."
    )
    unit_price: Decimal | None = strawberry.field(
        description="Price of one unit (valor unitário homologado), in reais."
    )
    total: Decimal | None = strawberry.field(
        description="Price of them all (valor total homologado), in reais."
    )
    awarded_on: date | None = strawberry.field(description="Day of the result (data do resultado).")
    status: str | None = strawberry.field(
        description="Situation of the result as PNCP gives it, e.g. Informado, Cancelado."
    )

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


@strawberry.input(
    description="Procurements matching all the conditions given; leave out what you do not need."
)
class ProcurementFilter:
    agency: strawberry.ID | None = strawberry.field(
        default=None, description="The agency's ID, as this API gives it."
    )
    agency_cnpj: str | None = strawberry.field(
        default=None, description="The agency's (órgão's) CNPJ, punctuation allowed."
    )
    sphere: Sphere | None = strawberry.field(
        default=None, description="Only procurements of agencies of this sphere (esfera)."
    )
    uf: UF | None = strawberry.field(default=None, description="Only this state (UF).")
    uf_in: list[UF] | None = strawberry.field(
        default=None, description="Only these states (UF), any of them: `[SP, RJ]`."
    )
    modality: Modality | None = strawberry.field(
        default=None, description="Only this modality (modalidade), e.g. PREGAO_ELETRONICO."
    )
    modality_in: list[Modality] | None = strawberry.field(
        default=None, description="Only these modalities, any of them."
    )
    status: ProcurementStatus | None = strawberry.field(
        default=None, description="Only this situation (situação)."
    )
    year: int | None = strawberry.field(default=None, description="From 1900 to 2100.")
    published_from: date | None = strawberry.field(
        default=None, description="Published on or after this day (YYYY-MM-DD)."
    )
    published_to: date | None = strawberry.field(
        default=None, description="Published on or before this day (YYYY-MM-DD)."
    )
    value_min: Decimal | None = strawberry.field(default=None, description="On estimated total.")
    value_max: Decimal | None = strawberry.field(default=None, description="On estimated total.")
    search: str | None = strawberry.field(
        default=None,
        description="Words in the object (objeto), in Portuguese:"
        ' `"óleo diesel" -gasolina` (quotes for a phrase, - to leave out; blank: no filter).',
    )

    def to_where(self) -> filters.ProcurementWhere:
        return filters.ProcurementWhere(
            agency_ids=ids_of(self.agency, "Agency"),
            agency_cnpj=None if self.agency_cnpj is None else parse_cnpj(self.agency_cnpj),
            sphere=None if self.sphere is None else self.sphere.value,
            uf=None if self.uf is None else self.uf.value,
            ufs=chosen(self.uf_in, "ufIn"),
            modality=None if self.modality is None else cast(int, self.modality.value),
            modalities=chosen(self.modality_in, "modalityIn"),
            status=None if self.status is None else self.status.value,
            year=checked_year(self.year),
            published_from=self.published_from,
            published_to=self.published_to,
            value_min=self.value_min,
            value_max=self.value_max,
            search=search_text(self.search),
        )


def procurement_where(given: ProcurementFilter | None) -> filters.ProcurementWhere:
    return (given or ProcurementFilter()).to_where()


@strawberry.type
class ProcurementQueries:
    @strawberry.field(
        description="Procurements (contratações, licitações) published in PNCP, newest first"
        " unless `orderBy` says otherwise.",
        metadata=paged(ALL),
    )
    async def procurements(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ProcurementFilter | None = None,
        order_by: ProcurementOrder | None = None,
    ) -> Connection[Procurement]:
        return await root_connection(
            info,
            ALL,
            Procurement.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            filter=filter,
            order_by=order_by,
        )
