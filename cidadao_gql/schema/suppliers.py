"""Suppliers (fornecedores): companies and people who sell to agencies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.data.statement import Filters
from cidadao_gql.schema.agencies import PartyOrder, party_order
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import (
    Contract,
    ContractFilter,
    ContractOrder,
    contract_order,
    where_of_contracts,
)
from cidadao_gql.schema.cost_tables import LIST_SIZES
from cidadao_gql.schema.enums import PersonKind, SupplierSize
from cidadao_gql.schema.inputs import search_text
from cidadao_gql.schema.relay import (
    ChildPage,
    Connection,
    Node,
    build,
    child_connection,
    from_columns,
    listed,
    paged,
    root_connection,
)
from cidadao_gql.taxids import parse_document

if TYPE_CHECKING:
    from cidadao_gql.schema.procurements import Award
    from cidadao_gql.schema.sanctions import Sanction


SANCTIONS_SHOWN = LIST_SIZES["Supplier.sanctions"]
CONTRACTS = ChildPage(sql.CONTRACTS, "supplier_id", contract_order, where_of_contracts)
AWARDS = ChildPage(sql.AWARDS, "supplier_id", "ID_ASC")


@strawberry.type(description="What a supplier has been contracted for, in all its contracts.")
class SupplierTotals:
    contract_count: int = strawberry.field(description="How many contracts.")
    total_value: Decimal = strawberry.field(description="Sum of their final values, in reais.")
    first_signed_on: date | None = strawberry.field(description="Day the first was signed.")
    last_signed_on: date | None = strawberry.field(description="Day the latest was signed.")


@from_columns
@strawberry.type(
    description="A supplier (fornecedor): a company (CNPJ) or person (CPF) that sells to agencies."
)
class Supplier(Node):
    document: str = strawberry.field(description="CNPJ or CPF, digits only.")
    kind: PersonKind = strawberry.field(description="Company (PJ) or person (PF).")
    name: str = strawberry.field(description="Name (razão social, or the person's name).")
    size: SupplierSize = strawberry.field(description="Company size (porte): ME, EPP or larger.")
    legal_nature: str | None = strawberry.field(
        description="Legal nature (natureza jurídica), e.g. Sociedade Empresária Limitada."
    )
    registered_on: date | None = strawberry.field(
        description="Day the CNPJ was opened (data de abertura)."
    )

    @classmethod
    def from_row(cls, row: Record) -> Supplier:
        return build(cls, row, kind=PersonKind(row["kind"]), size=SupplierSize(row["size"]))

    @strawberry.field(description="Contract count, total value and first and last signature.")
    async def totals(self, info: Info) -> SupplierTotals:
        row = await info.context.loaders.supplier_totals.load(self.pk)
        if row is None:
            return SupplierTotals(
                contract_count=0, total_value=Decimal(0), first_signed_on=None, last_signed_on=None
            )
        return SupplierTotals(
            contract_count=row["contract_count"],
            total_value=row["total_value"],
            first_signed_on=row["first_signed_on"],
            last_signed_on=row["last_signed_on"],
        )

    @strawberry.field(
        description="Contracts (contratos) this supplier signed.", metadata=paged(CONTRACTS)
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
            info, CONTRACTS, self.pk, Contract.from_row,
            first=first, after=after, last=last, before=before, filter=filter, order_by=order_by,
        )  # fmt: skip

    @strawberry.field(
        description="Procurement items this supplier won (resultados), with the unit price.",
        metadata=paged(AWARDS),
    )
    async def awards(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Annotated[Award, strawberry.lazy("cidadao_gql.schema.procurements")]]:
        from cidadao_gql.schema.procurements import Award

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

    @strawberry.field(
        description=f"CEIS/CNEP sanctions against this supplier's document (at most"
        f" {SANCTIONS_SHOWN}, the first recorded).",
        metadata=listed("sanctions_by_document", "document", SANCTIONS_SHOWN),
    )
    async def sanctions(
        self, info: Info
    ) -> list[Annotated[Sanction, strawberry.lazy("cidadao_gql.schema.sanctions")]]:
        from cidadao_gql.schema.sanctions import Sanction

        rows = await info.context.loaders.sanctions_by_document.load(self.document)
        # Capped at the size the cost analysis assumes, so the price stays an upper bound.
        return [Sanction.from_row(r) for r in rows[:SANCTIONS_SHOWN]]


@strawberry.input
class SupplierFilter:
    document: str | None = strawberry.field(
        default=None, description="CNPJ or CPF, punctuation allowed."
    )
    size: SupplierSize | None = strawberry.field(
        default=None, description="Only this company size (porte)."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the name (blank: no filter)."
    )

    def to_where(self) -> filters.SupplierWhere:
        return filters.SupplierWhere(
            document=None if self.document is None else parse_document(self.document),
            size=None if self.size is None else cast(str, self.size.value),
            search=search_text(self.search),
        )


def _supplier_where(arguments: Mapping[str, Any]) -> Filters:
    return (arguments.get("filter") or SupplierFilter()).to_where()


ALL = ChildPage(sql.SUPPLIERS, None, party_order, _supplier_where)


@strawberry.type
class SupplierQueries:
    @strawberry.field(
        description="Suppliers (fornecedores): who sells to agencies, in the order they were loaded"
        " unless `orderBy` says otherwise.",
        metadata=paged(ALL),
    )
    async def suppliers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: SupplierFilter | None = None,
        order_by: PartyOrder | None = None,
    ) -> Connection[Supplier]:
        return await root_connection(
            info,
            ALL,
            Supplier.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            filter=filter,
            order_by=order_by,
        )
