"""Agencies (órgãos): the public bodies that buy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import (
    Contract,
    ContractFilter,
    ContractOrder,
    contract_ordering,
    contract_where,
)
from cidadao_gql.schema.enums import UF, Power, Sphere, optional
from cidadao_gql.schema.inputs import search_text
from cidadao_gql.schema.relay import (
    DEFAULT_PAGE,
    Connection,
    Node,
    build,
    child_connection,
    from_columns,
    root_connection,
)

if TYPE_CHECKING:
    from cidadao_gql.schema.procurements import Procurement, ProcurementFilter


@from_columns
@strawberry.type(
    description="An agency (órgão): a public body that buys, federal, state or municipal,"
    " known by its CNPJ."
)
class Agency(Node):
    cnpj: str = strawberry.field(description="The agency's CNPJ (its tax number), 14 digits.")
    name: str = strawberry.field(description="Its official name (razão social).")
    sphere: Sphere = strawberry.field(description="Federal, state or municipal (esfera).")
    power: Power | None = strawberry.field(
        description="Executive, legislative or judiciary (poder)."
    )
    uf: UF | None = strawberry.field(description="The state (UF) it is in.")
    municipality: str | None = strawberry.field(description="The town (município) it is in.")
    ibge_code: str | None = strawberry.field(
        description="IBGE code of the town (código IBGE do município)."
    )

    @classmethod
    def from_row(cls, row: Record) -> Agency:
        return build(
            cls,
            row,
            sphere=Sphere(row["sphere"]),
            power=optional(Power, row["power"]),
            uf=optional(UF, row["uf"]),
        )

    @strawberry.field(description="Contracts (contratos) this agency signed.")
    async def contracts(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: ContractFilter | None = None,
        order_by: ContractOrder | None = None,
    ) -> Connection[Contract]:
        return await child_connection(
            info, sql.CONTRACTS, "agency_id", self.pk, contract_where(filter), first, after,
            contract_ordering(order_by), Contract.from_row,
        )  # fmt: skip

    @strawberry.field(
        description="Procurements (contratações, licitações) this agency published, newest first."
    )
    async def procurements(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: Annotated[ProcurementFilter, strawberry.lazy("cidadao_gql.schema.procurements")]
        | None = None,
    ) -> Connection[Annotated[Procurement, strawberry.lazy("cidadao_gql.schema.procurements")]]:
        from cidadao_gql.schema.procurements import Procurement, procurement_where

        return await child_connection(
            info, sql.PROCUREMENTS, "agency_id", self.pk, procurement_where(filter), first,
            after, "PUBLISHED_AT_DESC", Procurement.from_row,
        )  # fmt: skip


@strawberry.input
class AgencyFilter:
    uf: UF | None = None
    sphere: Sphere | None = None
    search: str | None = strawberry.field(default=None, description="Part of the name.")

    def to_where(self) -> filters.AgencyWhere:
        return filters.AgencyWhere(
            uf=None if self.uf is None else self.uf.value,
            sphere=None if self.sphere is None else self.sphere.value,
            search=search_text(self.search),
        )


@strawberry.type
class AgencyQueries:
    @strawberry.field(
        description="Agencies (órgãos): the public bodies that buy, in the order they were loaded."
    )
    async def agencies(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: AgencyFilter | None = None,
    ) -> Connection[Agency]:
        return await root_connection(
            info, sql.AGENCIES, (filter or AgencyFilter()).to_where(), first, after,
            "ID_ASC", Agency.from_row,
        )  # fmt: skip
