"""Agencies (órgãos): the public bodies that buy."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.data.statement import Filters
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import (
    Contract,
    ContractFilter,
    ContractOrder,
    contract_order,
    where_of_contracts,
)
from cidadao_gql.schema.enums import UF, OrderDirection, Power, Sphere, optional
from cidadao_gql.schema.inputs import search_text
from cidadao_gql.schema.relay import (
    ChildPage,
    Connection,
    Node,
    build,
    child_connection,
    from_columns,
    paged,
    root_connection,
)

if TYPE_CHECKING:
    from cidadao_gql.schema.procurements import Procurement, ProcurementFilter, ProcurementOrder


def _procurement_where(arguments: Mapping[str, Any]) -> Filters:
    from cidadao_gql.schema.procurements import procurement_where

    return procurement_where(arguments.get("filter"))


CONTRACTS = ChildPage(sql.CONTRACTS, "agency_id", contract_order, where_of_contracts)


def _procurement_order(arguments: Mapping[str, Any]) -> str:
    from cidadao_gql.schema.procurements import procurement_order

    return procurement_order(arguments)


PROCUREMENTS = ChildPage(sql.PROCUREMENTS, "agency_id", _procurement_order, _procurement_where)


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

    @strawberry.field(
        description="Contracts (contratos) this agency signed.", metadata=paged(CONTRACTS)
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
        description="Procurements (contratações, licitações) this agency published, newest first"
        " unless `orderBy` says otherwise.",
        metadata=paged(PROCUREMENTS),
    )
    async def procurements(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: Annotated[ProcurementFilter, strawberry.lazy("cidadao_gql.schema.procurements")]
        | None = None,
        order_by: Annotated[ProcurementOrder, strawberry.lazy("cidadao_gql.schema.procurements")]
        | None = None,
    ) -> Connection[Annotated[Procurement, strawberry.lazy("cidadao_gql.schema.procurements")]]:
        from cidadao_gql.schema.procurements import Procurement

        return await child_connection(
            info, PROCUREMENTS, self.pk, Procurement.from_row, first=first, after=after,
            last=last, before=before, filter=filter, order_by=order_by,
        )  # fmt: skip


@strawberry.input
class AgencyFilter:
    uf: UF | None = None
    sphere: Sphere | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the name (blank: no filter)."
    )

    def to_where(self) -> filters.AgencyWhere:
        return filters.AgencyWhere(
            uf=None if self.uf is None else self.uf.value,
            sphere=None if self.sphere is None else self.sphere.value,
            search=search_text(self.search),
        )


def _agency_where(arguments: Mapping[str, Any]) -> Filters:
    return (arguments.get("filter") or AgencyFilter()).to_where()


@strawberry.enum(description="What agencies and suppliers can be ordered by.")
class PartyOrderField(Enum):
    NAME = strawberry.enum_value("NAME", description="The name, letter by letter (accents count).")
    TOTAL_VALUE = strawberry.enum_value(
        "TOTAL_VALUE", description="The sum of the final values of all their contracts."
    )


@strawberry.input(description="How to order agencies or suppliers; without it, as loaded.")
class PartyOrder:
    field: PartyOrderField = strawberry.field(
        default=PartyOrderField.NAME, description="What to order by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC,
        description="A to Z or smallest first (ASC), Z to A or largest first (DESC).",
    )


def party_order(arguments: Mapping[str, Any]) -> str:
    """The ordering of an agencies or suppliers connection's arguments (`orderBy`)."""
    order: PartyOrder | None = arguments.get("order_by")
    return "ID_ASC" if order is None else f"{order.field.value}_{order.direction.value}"


ALL = ChildPage(sql.AGENCIES, None, party_order, _agency_where)


@strawberry.type
class AgencyQueries:
    @strawberry.field(
        description="Agencies (órgãos): the public bodies that buy, in the order they were loaded"
        " unless `orderBy` says otherwise.",
        metadata=paged(ALL),
    )
    async def agencies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: AgencyFilter | None = None,
        order_by: PartyOrder | None = None,
    ) -> Connection[Agency]:
        return await root_connection(
            info,
            ALL,
            Agency.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            filter=filter,
            order_by=order_by,
        )
