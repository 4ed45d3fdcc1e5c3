"""Prices across procurements: every item and award by catalog code and unit, and a summary
of the awarded unit prices per catalog code and unit, for price comparison pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry

from cidadao_gql.data import filters, sql
from cidadao_gql.data.db import Record
from cidadao_gql.errors import BadUserInput
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.procurements import Award, Item
from cidadao_gql.schema.relay import (
    DEFAULT_PAGE,
    ChildPage,
    Connection,
    build,
    from_columns,
    ids_of,
    paged,
    root_connection,
)

MAX_CODE = 100  # longer than any catalogue's code or unit of supply


def _text(value: str | None, argument: str) -> str | None:
    """A code or a unit as the filters take it: as written, not empty, not past MAX_CODE."""
    if value is not None and not 1 <= len(value) <= MAX_CODE:
        raise BadUserInput(
            f"`{argument}` takes from 1 to {MAX_CODE} characters",
            argument=argument, minimum=1, maximum=MAX_CODE,
        )  # fmt: skip
    return value


_CODE = "Catalogue code (CATMAT, CATSER), exactly as the items carry it."
_UNIT = "Unit of supply, exactly as the items carry it (e.g. Comprimido)."


@strawberry.input(description="Items matching all the conditions given.")
class ItemFilter:
    catalog_code: str | None = strawberry.field(default=None, description=_CODE)
    unit: str | None = strawberry.field(default=None, description=_UNIT)
    procurement: strawberry.ID | None = strawberry.field(
        default=None, description="The procurement's ID, as this API gives it."
    )
    agency: strawberry.ID | None = strawberry.field(
        default=None, description="The buying agency's ID, as this API gives it."
    )

    def to_where(self) -> filters.ItemWhere:
        return filters.ItemWhere(
            catalog_code=_text(self.catalog_code, "catalogCode"),
            unit=_text(self.unit, "unit"),
            procurement_ids=ids_of(self.procurement, "Procurement"),
            agency_ids=ids_of(self.agency, "Agency"),
        )


@strawberry.input(description="Awards (resultados) matching all the conditions given.")
class AwardFilter:
    catalog_code: str | None = strawberry.field(default=None, description=f"Of the item. {_CODE}")
    unit: str | None = strawberry.field(default=None, description=f"Of the item. {_UNIT}")
    procurement: strawberry.ID | None = strawberry.field(
        default=None, description="The procurement's ID, as this API gives it."
    )
    agency: strawberry.ID | None = strawberry.field(
        default=None, description="The buying agency's ID, as this API gives it."
    )
    supplier: strawberry.ID | None = strawberry.field(
        default=None, description="The winning supplier's ID, as this API gives it."
    )
    awarded_from: date | None = strawberry.field(
        default=None, description="Awarded on or after this day (YYYY-MM-DD)."
    )
    awarded_to: date | None = strawberry.field(
        default=None, description="Awarded on or before this day (YYYY-MM-DD)."
    )

    def to_where(self) -> filters.AwardWhere:
        return filters.AwardWhere(
            catalog_code=_text(self.catalog_code, "catalogCode"),
            unit=_text(self.unit, "unit"),
            procurement_ids=ids_of(self.procurement, "Procurement"),
            agency_ids=ids_of(self.agency, "Agency"),
            supplier_ids=ids_of(self.supplier, "Supplier"),
            awarded_from=self.awarded_from,
            awarded_to=self.awarded_to,
        )


@strawberry.input(description="Unit-price groups of this catalogue code, or unit, or both.")
class UnitPriceFilter:
    catalog_code: str | None = strawberry.field(default=None, description=_CODE)
    unit: str | None = strawberry.field(default=None, description=_UNIT)

    def to_where(self) -> filters.UnitPriceWhere:
        return filters.UnitPriceWhere(
            catalog_code=_text(self.catalog_code, "catalogCode"), unit=_text(self.unit, "unit")
        )


@from_columns
@strawberry.type(
    description="The awarded unit prices of one catalogue code in one unit of supply, across"
    " every procurement: how many, and how they spread (quartiles by percentile_cont)."
)
class UnitPriceSummary:
    pk: strawberry.Private[int]
    catalog_code: str = strawberry.field(description=_CODE)
    unit: str | None = strawberry.field(description="Unit of supply, as the items carry it.")
    description: str = strawberry.field(description="The items' most common description.")
    award_count: int = strawberry.field(description="How many awards with a unit price.")
    min_price: Decimal = strawberry.field(description="Lowest awarded unit price, in reais.")
    p25: Decimal = strawberry.field(description="First quartile of the unit prices, in reais.")
    median: Decimal = strawberry.field(description="Median unit price, in reais.")
    p75: Decimal = strawberry.field(description="Third quartile of the unit prices, in reais.")
    max_price: Decimal = strawberry.field(description="Highest awarded unit price, in reais.")

    @classmethod
    def from_row(cls, row: Record) -> UnitPriceSummary:
        return build(cls, row)


def _items(arguments: Mapping[str, Any]) -> filters.ItemWhere:
    return (arguments.get("filter") or ItemFilter()).to_where()


def _awards(arguments: Mapping[str, Any]) -> filters.AwardWhere:
    return (arguments.get("filter") or AwardFilter()).to_where()


def _unit_prices(arguments: Mapping[str, Any]) -> filters.UnitPriceWhere:
    return (arguments.get("filter") or UnitPriceFilter()).to_where()


ITEMS = ChildPage(sql.ITEMS, None, "ID_ASC", _items)
AWARDS = ChildPage(sql.AWARDS, None, "ID_ASC", _awards)
UNIT_PRICES = ChildPage(sql.UNIT_PRICES, None, "ID_ASC", _unit_prices)


@strawberry.type
class PriceQueries:
    @strawberry.field(
        description="Items (itens) of every procurement, in the order they were recorded.",
        metadata=paged(ITEMS),
    )
    async def items(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: ItemFilter | None = None,
    ) -> Connection[Item]:
        return await root_connection(
            info, ITEMS, Item.from_row, first=first, after=after, filter=filter
        )

    @strawberry.field(
        description="Awards (resultados) of every procurement, in the order they were recorded.",
        metadata=paged(AWARDS),
    )
    async def awards(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: AwardFilter | None = None,
    ) -> Connection[Award]:
        return await root_connection(
            info, AWARDS, Award.from_row, first=first, after=after, filter=filter
        )

    @strawberry.field(
        description="Awarded unit prices per catalogue code and unit: count, least, quartiles,"
        " median and greatest, by catalogue code then unit. Pass a code (and a unit) to"
        " compare one item's prices; its awards are `awards(filter: {catalogCode, unit})`.",
        metadata=paged(UNIT_PRICES),
    )
    async def unit_prices(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        filter: UnitPriceFilter | None = None,
    ) -> Connection[UnitPriceSummary]:
        return await root_connection(
            info, UNIT_PRICES, UnitPriceSummary.from_row, first=first, after=after, filter=filter
        )
