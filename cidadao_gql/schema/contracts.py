"""Contracts: what an agency signed with a supplier, for how much, and when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.enums import UF, Modality, OrderDirection, Sphere, optional
from cidadao_gql.schema.inputs import chosen, ibge_code, search_text
from cidadao_gql.schema.relay import (
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
@strawberry.type(
    description="A contract (contrato) an agency (órgão) signed with a supplier (fornecedor):"
    " what, for how much, when."
)
class Contract(Node):
    agency_id: strawberry.Private[int]
    supplier_id: strawberry.Private[int]
    procurement_id: strawberry.Private[int | None]
    number: str = strawberry.field(description="The contract's number, as the agency wrote it.")
    object: str = strawberry.field(
        description="What was contracted (objeto), in the agency's words."
    )
    modality: Modality = strawberry.field(
        description="How the supplier was chosen (modalidade): pregão, dispensa…"
    )
    uf: UF | None = strawberry.field(description="The state (UF) of the agency.")
    initial_value: Decimal = strawberry.field(
        description="Value when signed (valor inicial), in reais."
    )
    final_value: Decimal = strawberry.field(
        description="Value after amendments (valor global, with aditivos), in reais: what totals add up."
    )
    signed_on: date = strawberry.field(description="Day it was signed (data de assinatura).")
    starts_on: date | None = strawberry.field(
        description="First day in force (início da vigência)."
    )
    ends_on: date | None = strawberry.field(description="Last day in force (fim da vigência).")

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


@strawberry.input(
    description="Contracts matching all the conditions given; leave out what you do not need."
)
class ContractFilter:
    agency: strawberry.ID | None = strawberry.field(
        default=None, description="The agency's ID, as this API gives it."
    )
    agency_cnpj: str | None = strawberry.field(
        default=None, description="The agency's (órgão's) CNPJ, punctuation allowed."
    )
    supplier: strawberry.ID | None = strawberry.field(
        default=None, description="The supplier's ID, as this API gives it."
    )
    supplier_document: str | None = strawberry.field(
        default=None, description="The supplier's (fornecedor's) CNPJ or CPF, punctuation allowed."
    )
    procurement: strawberry.ID | None = strawberry.field(
        default=None, description="The procurement's ID: the contracts signed from it."
    )
    sphere: Sphere | None = strawberry.field(
        default=None, description="Only contracts of agencies of this sphere (esfera)."
    )
    ibge_code: str | None = strawberry.field(
        default=None,
        description="Only contracts of agencies of this municipality, by its seven-digit IBGE"
        " code (3550308 for São Paulo), as `Agency.ibgeCode` gives it.",
    )
    uf: UF | None = strawberry.field(default=None, description="Only this state (UF).")
    uf_in: list[UF] | None = strawberry.field(
        default=None, description="Only these states (UF), any of them: `[SP, RJ]`."
    )
    modality: Modality | None = strawberry.field(
        default=None, description="Only this modality (modalidade), e.g. DISPENSA."
    )
    modality_in: list[Modality] | None = strawberry.field(
        default=None,
        description="Only these modalities, any of them: `[DISPENSA, INEXIGIBILIDADE]`.",
    )
    signed_from: date | None = strawberry.field(
        default=None, description="Signed on or after this day (YYYY-MM-DD)."
    )
    signed_to: date | None = strawberry.field(
        default=None, description="Signed on or before this day (YYYY-MM-DD)."
    )
    value_min: Decimal | None = strawberry.field(
        default=None, description="Final value at least this, in reais (10000.00)."
    )
    value_max: Decimal | None = strawberry.field(
        default=None, description="Final value at most this, in reais."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Words in the object (objeto), in Portuguese:"
        ' `"óleo diesel" -gasolina` (quotes for a phrase, - to leave out; blank: no filter).',
    )

    def to_where(self) -> filters.ContractWhere:
        return filters.ContractWhere(
            agency_ids=ids_of(self.agency, "Agency"),
            agency_cnpj=None if self.agency_cnpj is None else parse_cnpj(self.agency_cnpj),
            supplier_ids=ids_of(self.supplier, "Supplier"),
            supplier_document=(
                None if self.supplier_document is None else parse_document(self.supplier_document)
            ),
            procurement_ids=ids_of(self.procurement, "Procurement"),
            sphere=None if self.sphere is None else self.sphere.value,
            ibge_code=ibge_code(self.ibge_code),
            uf=None if self.uf is None else self.uf.value,
            ufs=chosen(self.uf_in, "ufIn"),
            modality=None if self.modality is None else cast(int, self.modality.value),
            modalities=chosen(self.modality_in, "modalityIn"),
            signed_from=self.signed_from,
            signed_to=self.signed_to,
            value_min=self.value_min,
            value_max=self.value_max,
            search=search_text(self.search),
        )


def contract_where(given: ContractFilter | None) -> filters.ContractWhere:
    return (given or ContractFilter()).to_where()


def where_of_contracts(arguments: Mapping[str, Any]) -> filters.ContractWhere:
    """The filter of a contracts connection's arguments (`filter`)."""
    return contract_where(arguments.get("filter"))


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


CONTRACTS = ChildPage(sql.CONTRACTS, None, contract_order, where_of_contracts)


@strawberry.type
class ContractQueries:
    @strawberry.field(
        description="Contracts (contratos), newest signature first unless `orderBy` says otherwise.",
        metadata=paged(CONTRACTS),
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
        return await root_connection(
            info, CONTRACTS, Contract.from_row,
            first=first, after=after, last=last, before=before, filter=filter, order_by=order_by,
        )  # fmt: skip
