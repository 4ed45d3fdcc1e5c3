"""Spending: contracts counted and summed per group, a keyset page of groups at a time.

Grouped by month, year, UF, modality or sphere under a filter on nothing but those and
whole months, a page adds up spending's cells (migration 0013: contracts counted and
summed per month, UF, modality and sphere, 26,153 cells for 1,000,000 contracts) instead
of the contracts, unless a write has marked the cells stale since a writer refreshed them.
Under no filter at all, it reads the cells already added up per grouping (migration 0021,
99 rows for 1,000,000 contracts: spending by UF reads 27 of them, not 26,153 cells); any
grouping but months under UF, modality and whole years, the cells added up per year
(2,599). The mark is read by the same statement, which holds both ways and runs one.

A page is one statement: the groups under the filter, those past the cursor, the first
`first + 1` in the page's order, then their labels (joined after grouping: joined before,
every contract looked its supplier up). Keys are the group's own value (an agency's id, a
month's first day, a modality's code), so a cursor names a group whatever its label.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cidadao_gql.data.columns import read_date, read_integer, read_key, read_money, write_money
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.filters import ContractWhere
from cidadao_gql.data.statement import Filters, Sql


@dataclass(frozen=True, slots=True)
class Grouping:
    """How spending is grouped: the key of a contract `t` and its SQL type, how a cursor's
    key is read, the label of a group `g` and the join that reads it. A `period` ("month",
    "year") bounds the contracts' own `signed_on` past a cursor, so that the next page's
    contracts are found in signed_on's index; `via_agency` rolls the agencies' groups up by
    a column of the agency `a` (2,000 agencies joined, not 1,000,000 contracts)."""

    key: str
    kind: str
    parse: Callable[[str], Any]
    label: str = "g.key::text"
    join: str = ""
    period: str | None = None
    via_agency: bool = False
    cell: str | None = None  # the key in spending_cells `t`, for the groupings it serves


_MONTH, _YEAR = "date_trunc('month', t.signed_on)::date", "date_trunc('year', t.signed_on)::date"
SPENDING_GROUPS = {
    "AGENCY": Grouping("t.agency_id", "bigint", read_key, "a.name",
                       "JOIN agencies a ON a.id = g.key"),
    "SUPPLIER": Grouping("t.supplier_id", "bigint", read_key, "s.name",
                         "JOIN suppliers s ON s.id = g.key"),
    "MONTH": Grouping(_MONTH, "date", read_date, "to_char(g.key, 'YYYY-MM')", period="month",
                      cell="t.signed_on"),
    "YEAR": Grouping(_YEAR, "date", read_date, "to_char(g.key, 'YYYY')", period="year",
                     cell=_YEAR),
    "MODALITY": Grouping("t.modality", "smallint", read_integer, cell="t.modality"),
    "UF": Grouping("coalesce(t.uf, '??')", "text", str, cell="coalesce(t.uf, '??')"),
    "SPHERE": Grouping("a.sphere::text", "text", str, via_agency=True, cell="t.sphere::text"),
}  # fmt: skip
# The filters spending's cells can answer: on the columns they keep, whole months only.
CELL_FILTERS = frozenset({"uf", "modality", "signed_from", "signed_to"})
# What a page can be ordered by: the group's column, and how a cursor's value is read
# (None: the key, read as the grouping reads it).
SPENDING_SORTS: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "TOTAL": ("g.total", read_money),
    "COUNT": ("g.contract_count", read_integer),
    "KEY": ("g.key", None),
}


@dataclass(frozen=True, slots=True)
class GroupPage:
    """A page of groups: how many, ordered by what (SPENDING_SORTS) in which direction,
    after which group (its sort value and its key, as `Grouping.parse` reads them)."""

    first: int
    sort: str
    descending: bool
    after: tuple[Any, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.sort}_{'DESC' if self.descending else 'ASC'}"


def dump_value(value: Any) -> str:
    """A sort value or a key as a cursor holds it (`parse` reads it back)."""
    if isinstance(value, Decimal):
        return write_money(value)
    return value.isoformat() if isinstance(value, date) else str(value)


def read_position(group: str, sort: str, value: str, key: str) -> tuple[Any, Any]:
    """A cursor's sort value and key, read strictly: a ValueError for anything
    `dump_value` would not have written."""
    g = SPENDING_GROUPS[group]
    position = ((SPENDING_SORTS[sort][1] or g.parse)(value), g.parse(key))
    if (dump_value(position[0]), dump_value(position[1])) != (value, key):
        raise ValueError("not a position as we write them")
    if SPENDING_SORTS[sort][1] is None and value != key:
        raise ValueError("ordered by the key, a cursor's value is its key")
    if g.period is not None and position[1] != _period_start(position[1], g.period):
        raise ValueError(f"not the first day of a {g.period}")
    return position


def _period_start(day: date, period: str) -> date:
    return day.replace(day=1) if period == "month" else day.replace(month=1, day=1)


def _whole_months(filters: Filters) -> bool:
    """Whether a filter is one spending's cells answer: nothing but UF, modality and a
    signature range from a month's first day to a month's last (ContractWhere's other
    fields at their defaults, whatever fields it has)."""
    if not isinstance(filters, ContractWhere):
        return False
    for field in dataclasses.fields(filters):
        if field.name not in CELL_FILTERS and getattr(filters, field.name) != field.default:
            return False
    start, end = filters.signed_from, filters.signed_to
    return (start is None or start.day == 1) and (end is None or (end + timedelta(1)).day == 1)


def _whole_years(filters: ContractWhere) -> bool:
    start, end = filters.signed_from, filters.signed_to
    return (start is None or (start.month, start.day) == (1, 1)) and (
        end is None or (end.month, end.day) == (12, 31)
    )


def _kept_source(g: Grouping, filters: Filters) -> str | None:
    """What can be added up rather than contracts: the rollups of a grouping (no filter),
    the cells per year (any grouping but months, under UF, modality and whole years), the
    cells (a grouping and a filter they serve), or None (only the contracts)."""
    if g.cell is None or not _whole_months(filters) or not isinstance(filters, ContractWhere):
        return None
    if filters == ContractWhere():
        return "rollups"
    return "year_cells" if g.period != "month" and _whole_years(filters) else "cells"


# Whether a write has marked the cells and their rollups stale since a writer refreshed
# them: tested in the statement that reads them, an InitPlan run once, so that the branch
# it rules out is never executed and the mark is read in the same snapshot as the cells
# (one round trip, and no write can commit between the test and the read). Above the
# contracts' aggregate, not in it (OFFSET 0 keeps it out): tested within, it went below a
# Gather, and two parallel workers started to find nothing to do (37 ms for spending by UF).
_STALE = "(SELECT stale FROM derived_state WHERE name = 'spending_cells')"


def _groups(group: str, filters: Filters, sql: Sql) -> str:
    """The statement of every group under the filter: key, contract_count, total; from the
    cells or their rollups while they are current, else from the contracts."""
    g = SPENDING_GROUPS[group]
    filters(sql)
    kept = _kept_source(g, filters)
    where = sql.where_sql()
    if not g.via_agency:
        counted = f"""SELECT {g.key} AS key, count(*) AS contract_count, sum(t.final_value) AS total
                        FROM contracts t WHERE {where}"""
    else:
        counted = f"""SELECT {g.key} AS key, sum(c.n)::bigint AS contract_count,
                             sum(c.total) AS total
                        FROM (SELECT t.agency_id, count(*) AS n, sum(t.final_value) AS total
                                FROM contracts t WHERE {where} GROUP BY 1) c
                        JOIN agencies a ON a.id = c.agency_id"""
    if kept is None:
        return f"{counted} GROUP BY 1"
    # A rollup row is its grouping's (a period's cursor bounds their signed_on as it does
    # the cells').
    rows = f"t.grouped_by = '{group}' AND {where}" if kept == "rollups" else where
    return f"""SELECT {g.cell} AS key, sum(t.contract_count)::bigint AS contract_count,
                      sum(t.total) AS total
                 FROM spending_{kept} t WHERE NOT {_STALE} AND {rows} GROUP BY 1
               UNION ALL
               SELECT * FROM ({counted} GROUP BY 1 OFFSET 0) s WHERE {_STALE}"""


async def fetch_spending(
    db: Database, group: str, filters: Filters, page: GroupPage
) -> list[Record]:
    """Up to `first + 1` groups past the cursor, in the page's order (ties by key), each
    with its raw key (`raw_key`, as a cursor holds it), label, contract_count and total."""
    g = SPENDING_GROUPS[group]
    sql = Sql()
    if page.after is not None and g.period is not None and page.sort == "KEY":
        # The next page's periods start before (after) the cursor's: a range of signed_on.
        start = sql.arg(page.after[1])
        if page.descending:
            sql.filter(f"t.signed_on < {start}::date", "signed_on")
        else:
            sql.filter(f"t.signed_on >= {start}::date + interval '1 {g.period}'", "signed_on")
    groups = _groups(group, filters, sql)
    column = SPENDING_SORTS[page.sort][0]
    direction = "DESC" if page.descending else "ASC"
    order = (
        f"g.key {direction}" if page.sort == "KEY" else f"{column} {direction}, g.key {direction}"
    )
    past = "TRUE"
    if page.after is not None:
        value, key = page.after
        op = "<" if page.descending else ">"
        if page.sort == "KEY":  # the cursor's value is its key
            past = f"g.key {op} {sql.arg(key)}::{g.kind}"
        else:
            past = f"({column}, g.key) {op} ({sql.arg(value)}, {sql.arg(key)}::{g.kind})"
    return await db.fetch(
        f"""SELECT g.key::text AS raw_key, {g.label} AS label, g.contract_count, g.total FROM (
                SELECT * FROM ({groups}) g WHERE {past}
                 ORDER BY {order} LIMIT {sql.arg(page.first + 1)}) g {g.join}
             ORDER BY {order}""",
        *sql.args,
    )


async def count_spending_groups(db: Database, group: str, filters: Filters) -> int:
    sql = Sql()
    groups = _groups(group, filters, sql)
    count: int = await db.fetchval(f"SELECT count(*) FROM ({groups}) g", *sql.args)
    return count
