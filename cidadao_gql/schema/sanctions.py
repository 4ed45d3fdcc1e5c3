"""Sanctions: CEIS/CNEP entries that bar a supplier from contracting."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.enums import SanctionRegister
from cidadao_gql.schema.relay import (
    DEFAULT_PAGE,
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
@strawberry.type(description="A sanction in a federal register (CEIS or CNEP).")
class Sanction(Node):
    supplier_document: str
    register: SanctionRegister
    starts_on: date
    ends_on: date | None = strawberry.field(description="Null while open-ended.")
    authority: str
    reason: str | None

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
    register: SanctionRegister | None = None
    active_on: date | None = strawberry.field(default=None, description="In force on this day.")

    def to_filter(self) -> filters.SanctionFilter:
        document = self.supplier_document
        return filters.SanctionFilter(
            supplier_document=None if document is None else parse_document(document),
            register=None if self.register is None else self.register.value,
            active_on=self.active_on,
        )


ALL = ChildPage(
    sql.SANCTIONS, None, "ID_ASC", lambda a: (a.get("filter") or SanctionFilter()).to_filter()
)


@strawberry.type
class SanctionQueries:
    @strawberry.field(metadata=paged(ALL))
    async def sanctions(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: SanctionFilter | None = None,
    ) -> Connection[Sanction]:
        return await root_connection(
            info, ALL, Sanction.from_row, first=first, after=after, filter=filter
        )
