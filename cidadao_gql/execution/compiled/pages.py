"""Connections as plan nodes, as relations are (relay.paged): a parent's children, and root
lists (one parent: the query).

A connection field such as `Agency.contracts` used to be run by calling its resolver once
per parent row: Strawberry's wrapper converting the same arguments again, an object made of
the parent's row, a DataLoader future, `Edge`, `PageInfo` and `Connection` objects, and
cursors encoded whether asked for or not (35-45 % of the CPU of nested shapes; README,
"Peers"). Here a level's parents get their pages in one call: the arguments converted and
checked once per plan and set of variables (kept in the Price), one `fetch_child_pages` for
every parent id of the level, and for each parent a `Page` holding its rows. The
connection's selection then reads the page as it reads any object: `edges` and `pageInfo`
are made when selected, cursors only when a `cursor`, `startCursor` or `endCursor` is
asked for, `nodes` are the rows themselves, and `totalCount` is one grouped count per
level. Rows stay rows, so each level selects only the columns its selection reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql.execution.values import get_argument_values

from cidadao_gql.data.db import Record
from cidadao_gql.data.sql import Ordering
from cidadao_gql.data.statement import Filters
from cidadao_gql.errors import Fallback
from cidadao_gql.execution.compiled.selection import FieldPlan, PageNode
from cidadao_gql.schema.relay import ChildPage, encode_cursor, page_slice


class RowEdge:
    """What `Edge.node` (the row) and `Edge.cursor` (`encode_cursor(ordering, row)`) read."""

    __slots__ = ("ordering", "row")

    def __init__(self, row: Record, ordering: Ordering) -> None:
        self.row = row
        self.ordering = ordering


class Page:
    """One parent's page, read by the connection's selection as a `Connection` and its
    `PageInfo` are read: the same attribute names, made only when asked for."""

    __slots__ = ("count", "has_next_page", "has_previous_page", "ordering", "parent", "rows")

    def __init__(
        self, rows: Sequence[Record], has_next: bool, has_previous: bool, ordering: Ordering,
        parent: int, count: tuple[ChildPage, Filters],
    ) -> None:  # fmt: skip
        self.rows = rows
        self.has_next_page = has_next
        self.has_previous_page = has_previous
        self.ordering = ordering
        self.parent = parent
        self.count = count  # what totalCount counts

    @property
    def page_info(self) -> Page:
        return self

    @property
    def edges(self) -> list[RowEdge]:
        ordering = self.ordering
        return [RowEdge(row, ordering) for row in self.rows]

    @property
    def start_cursor(self) -> str | None:
        return encode_cursor(self.ordering, self.rows[0]) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.ordering, self.rows[-1]) if self.rows else None


def read_page_rows(pages: list[Page]) -> list[Any]:
    """`nodes`: the rows of each page."""
    return [page.rows for page in pages]


def request_of(plan: FieldPlan, node: PageNode, run: Any) -> tuple[Filters, Any]:
    """The filters and page request of the field's arguments, made once per plan and set
    of variables; bad arguments (a page size, a cursor, an id) are the ordinary path's to
    answer, with its errors and paths."""
    known = run.price.arguments
    found: tuple[Filters, Any] | None = known.get(id(plan))
    if found is None:
        assert plan.definition is not None
        try:
            values = get_argument_values(plan.definition, plan.details[0].node, run.variables)
            found = node.source.request(node.convert(values), plan.columns)
        except Exception as exc:
            raise Fallback from exc
        known[id(plan)] = found
    return found


async def fetch_pages(plan: FieldPlan, parents: list[Any], run: Any) -> list[Page]:
    """Every parent's page of a level, in one call; a parent met twice gets the same page."""
    if not parents:
        return []
    node = plan.page
    assert node is not None
    filters, page = request_of(plan, node, run)
    if node.source.parent_column is None:
        ids = [0] * len(parents)  # a root list: its one parent is the query
    else:
        ids = [p["id"] for p in parents] if node.rows else [p.pk for p in parents]
    unique = list(dict.fromkeys(ids))
    try:
        groups = await node.source.pages(run.info.context.loaders, unique, filters, page)
    except Exception as exc:  # (cancelled: the operation timed out; not a fallback)
        raise Fallback from exc
    ordering, count = page.ordering, (node.source, filters)
    pages = {
        parent: Page(*page_slice(rows, page), ordering, parent, count)
        for parent, rows in zip(unique, groups, strict=True)
    }
    return [pages[parent] for parent in ids]


async def count_pages(plan: FieldPlan, pages: list[Page], run: Any) -> list[int]:
    """`totalCount` of every page of a level: one grouped count per list counted."""
    wanted: dict[tuple[ChildPage, Filters], dict[int, int]] = {}
    for page in pages:
        wanted.setdefault(page.count, {})[page.parent] = 0
    loaders = run.info.context.loaders
    for (source, filters), totals in wanted.items():
        ids = list(totals)
        try:
            found = await source.counts(loaders, ids, filters)
        except Exception as exc:
            raise Fallback from exc
        totals.update(zip(ids, found, strict=True))
    return [wanted[page.count][page.parent] for page in pages]
