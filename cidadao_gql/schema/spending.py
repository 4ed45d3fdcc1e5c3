"""Spending aggregates: how much went where, under the same filters as `contracts`, a page
of groups at a time."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
import strawberry

from cidadao_gql.data.aggregates import GroupPage, dump_value, read_position
from cidadao_gql.data.db import Record
from cidadao_gql.errors import InvalidCursor
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.contracts import ContractFilter, contract_where
from cidadao_gql.schema.enums import Modality, OrderDirection, Sphere
from cidadao_gql.schema.relay import DEFAULT_PAGE, PageInfo, check_page_size, encode_id


@strawberry.enum(
    description="What to add contracts up by: agency (órgão), supplier (fornecedor), month,"
    " year, modality (modalidade), state (UF) or sphere (esfera)."
)
class SpendingGroupBy(Enum):
    AGENCY = "AGENCY"
    SUPPLIER = "SUPPLIER"
    MONTH = "MONTH"
    YEAR = "YEAR"
    MODALITY = "MODALITY"
    UF = "UF"
    SPHERE = "SPHERE"


@strawberry.enum(description="What groups of spending are ordered by.")
class SpendingOrderField(Enum):
    TOTAL = "TOTAL"
    COUNT = "COUNT"
    KEY = "KEY"


@strawberry.input(
    description="The order of spending groups; ties are ordered by key, in the same direction."
)
class SpendingOrder:
    field: SpendingOrderField = SpendingOrderField.TOTAL
    direction: OrderDirection = OrderDirection.DESC


# Periods come latest first unless asked otherwise; the other groups largest total first.
_BY_PERIOD = SpendingOrder(field=SpendingOrderField.KEY, direction=OrderDirection.DESC)
_PERIODS = (SpendingGroupBy.MONTH, SpendingGroupBy.YEAR)


@strawberry.type(
    description="One group of contracts: how many, and their total final value in reais."
)
class SpendingGroup:
    key: str = strawberry.field(
        description="Global ID for AGENCY and SUPPLIER, YYYY-MM for MONTH, YYYY for YEAR,"
        " enum name otherwise."
    )
    label: str = strawberry.field(
        description="A name for people: agency or supplier name, else the key."
    )
    contract_count: int = strawberry.field(description="How many contracts.")
    total: Decimal = strawberry.field(description="Sum of their final values, in reais.")


@strawberry.type(description="A group of spending and where it sits in the list.")
class SpendingEdge:
    node: SpendingGroup
    cursor: str = strawberry.field(
        description="Where this edge sits: pass it as `after` for what follows."
    )


@strawberry.type(description="A page of spending groups.")
class SpendingConnection:
    edges: list[SpendingEdge]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Nodes of this page, without cursors.")
    def nodes(self) -> list[SpendingGroup]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Groups in the whole list under the same filter (one query).")
    async def total_count(self) -> int:
        return await self.counter()


def _group(group: SpendingGroupBy, row: Record) -> SpendingGroup:
    key, label = row["label"], row["label"]
    if group is SpendingGroupBy.AGENCY:
        key = encode_id("Agency", int(row["raw_key"]))
    elif group is SpendingGroupBy.SUPPLIER:
        key = encode_id("Supplier", int(row["raw_key"]))
    elif group is SpendingGroupBy.MODALITY:
        key = label = Modality(int(row["raw_key"])).name
    elif group is SpendingGroupBy.SPHERE:
        key = label = Sphere(row["raw_key"]).name
    return SpendingGroup(
        key=key, label=label, contract_count=row["contract_count"], total=row["total"]
    )


def _cursor(page: GroupPage, group: SpendingGroupBy, row: Record) -> str:
    value = {"TOTAL": row["total"], "COUNT": row["contract_count"]}.get(page.sort)
    position = [page.name, group.value, dump_value(value) if value is not None else row["raw_key"]]
    return base64.urlsafe_b64encode(orjson.dumps([*position, row["raw_key"]])).decode()


def _position(cursor: str, group: SpendingGroupBy, sort: str, name: str) -> tuple[Any, Any]:
    """A cursor's position, read strictly: InvalidCursor for anything `_cursor` would not
    have written for this grouping and order, before any SQL."""
    try:
        written, grouped, value, key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (written, grouped) != (name, group.value):
            raise InvalidCursor(
                "this cursor belongs to another grouping or order; start again without `after`",
                cursor=cursor, ordering=name,
            )  # fmt: skip
        if type(value) is not str or type(key) is not str:
            raise ValueError("a cursor holds strings")
        position = read_position(group.value, sort, value, key)
        if (
            base64.urlsafe_b64encode(orjson.dumps([name, group.value, value, key])).decode()
            != cursor
        ):
            raise ValueError("not as we write cursors")
    except (ValueError, TypeError, UnicodeEncodeError):
        raise InvalidCursor(f"{cursor!r} is not a cursor of this list", cursor=cursor) from None
    return position


@strawberry.type
class SpendingQueries:
    @strawberry.field(
        description="Contract spending grouped by agency, supplier, month, year, modality, UF"
        " or sphere, `first` groups at a time (every group, page by page): the largest total"
        " first, months and years the latest first, unless `orderBy` says otherwise."
    )
    async def spending(
        self,
        info: Info,
        group_by: SpendingGroupBy,
        filter: ContractFilter | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        order_by: SpendingOrder | None = None,
    ) -> SpendingConnection:
        check_page_size(first)
        order = order_by or (_BY_PERIOD if group_by in _PERIODS else SpendingOrder())
        page = GroupPage(first, order.field.value, order.direction is OrderDirection.DESC)
        if after is not None:
            page = GroupPage(first, page.sort, page.descending,
                             _position(after, group_by, page.sort, page.name))  # fmt: skip
        loaders, where = info.context.loaders, contract_where(filter)
        rows = await loaders.spending(group_by.value, where, page)
        edges = [SpendingEdge(node=_group(group_by, r), cursor=_cursor(page, group_by, r))
                 for r in rows[:first]]  # fmt: skip
        page_info = PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return SpendingConnection(
            edges=edges, page_info=page_info,
            counter=lambda: loaders.spending_groups(group_by.value, where),
        )  # fmt: skip
