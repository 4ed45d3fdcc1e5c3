"""Sanctions: CEIS/CNEP entries that bar a supplier from contracting."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.enums import SanctionRegister
from cidadao_gql.schema.relay import (
    ChildPage,
    Connection,
    Node,
    batched,
    build,
    from_columns,
    paged,
    root_connection,
)
from cidadao_gql.taxids import parse_document

if TYPE_CHECKING:
    from cidadao_gql.schema.suppliers import Supplier


@from_columns
@strawberry.type(
    description="A sanction (sanção) in a federal register of punished companies and people:"
    " CEIS or CNEP."
)
class Sanction(Node):
    supplier_document: str = strawberry.field(description="CNPJ or CPF of whom it punishes.")
    register: SanctionRegister = strawberry.field(
        description="The register it is in: CEIS or CNEP."
    )
    starts_on: date = strawberry.field(description="First day in force.")
    ends_on: date | None = strawberry.field(
        description="Last day in force; empty while it has no end."
    )
    authority: str = strawberry.field(description="Who imposed it (órgão sancionador).")
    reason: str | None = strawberry.field(
        description="What it is, e.g. Inidoneidade para licitar e contratar."
    )

    @classmethod
    def from_row(cls, row: Record) -> Sanction:
        return build(cls, row, register=SanctionRegister(row["register"]))

    @strawberry.field(
        description="The supplier with this document, if we know it.",
        metadata=batched("supplier_by_document", "supplier_document"),
    )
    async def supplier(
        self, info: Info
    ) -> Annotated[Supplier, strawberry.lazy("cidadao_gql.schema.suppliers")] | None:
        from cidadao_gql.schema.suppliers import Supplier

        row = await info.context.loaders.supplier_by_document.load(self.supplier_document)
        return None if row is None else Supplier.from_row(row)


@strawberry.input
class SanctionFilter:
    supplier_document: str | None = strawberry.field(default=None, description="CNPJ or CPF.")
    register: SanctionRegister | None = strawberry.field(
        default=None, description="Only this register: CEIS or CNEP."
    )
    active_on: date | None = strawberry.field(default=None, description="In force on this day.")

    def to_where(self) -> filters.SanctionWhere:
        document = self.supplier_document
        return filters.SanctionWhere(
            supplier_document=None if document is None else parse_document(document),
            register=None if self.register is None else cast(str, self.register.value),
            active_on=self.active_on,
        )


ALL = ChildPage(
    sql.SANCTIONS, None, "ID_ASC", lambda a: (a.get("filter") or SanctionFilter()).to_where()
)


@strawberry.type
class SanctionQueries:
    @strawberry.field(
        description="Sanctions (sanções) in the federal registers CEIS and CNEP, in the order they were loaded.",
        metadata=paged(ALL),
    )
    async def sanctions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: SanctionFilter | None = None,
    ) -> Connection[Sanction]:
        return await root_connection(
            info,
            ALL,
            Sanction.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            filter=filter,
        )
