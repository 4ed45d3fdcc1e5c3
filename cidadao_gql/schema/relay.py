"""Relay plumbing: global IDs, the Node interface, opaque cursors and generic connections."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Generic, TypeVar

import orjson
import strawberry

from cidadao_gql.data.columns import read_key
from cidadao_gql.data.db import Record
from cidadao_gql.data.filters import no_filters
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.data.sql import Entity, Ordering, PageRequest
from cidadao_gql.data.statement import Filters
from cidadao_gql.errors import BadUserInput, InvalidCursor, InvalidId, InvalidPageSize
from cidadao_gql.schema.context import Info
from cidadao_gql.schema.cost_tables import DEFAULT_PAGE, FIELD_COSTS, Cost
from cidadao_gql.schema.strawberry_internals import raw_info

T = TypeVar("T")

MAX_PAGE = 100
__all__ = ["DEFAULT_PAGE"]  # the connections' `first` when neither it nor `last` is given
# A bulk key's (one with its own allowance) pages, for exports: per request, fixed work
# (authentication, pricing, the bucket, the middleware) outweighs a row's work by some 300
# to 1, so 1,000-row pages export 100,000 contracts with a quarter of the server's CPU time
# of 100-row ones (benchmarks/export.py). Its cost limit grows as much (execution/limits.py).
BULK_PAGE = 1000
_page_limit: ContextVar[int] = ContextVar("page_limit", default=MAX_PAGE)


@contextmanager
def page_limit(limit: int) -> Iterator[None]:
    """Pages of up to `limit` rows for the operation run inside (its task and the tasks
    it starts)."""
    token = _page_limit.set(limit)
    try:
        yield
    finally:
        _page_limit.reset(token)


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    # binascii directly: base64.b64encode wraps it and copies, on every ID of every page.
    return strawberry.ID(binascii.b2a_base64(f"{type_name}:{pk}".encode(), newline=False).decode())


def decode_id(global_id: str, expected: str | None = None) -> tuple[str, int]:
    """(type name, primary key) of a global ID exactly as encode_id writes it: its key a
    canonical decimal within bigint. Anything else is an InvalidId, before any SQL, among
    them the IDs that int() would read as a real row (`Contract:01`, `Contract: 1`,
    `Contract:1_0`, an Arabic-Indic digit) and a base64 of unused padding bits."""
    try:
        type_name, _, text = base64.b64decode(global_id, validate=True).decode().partition(":")
        pk = read_key(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidId(f"{global_id!r} is not a valid ID", id=global_id) from None
    if not type_name.isidentifier() or encode_id(type_name, pk) != global_id:
        raise InvalidId(f"{global_id!r} is not a valid ID", id=global_id)
    if expected is not None and type_name != expected:
        raise InvalidId(
            f"{global_id!r} is the ID of {_article(type_name)} {type_name}, expected {expected}",
            id=global_id,
        )
    return type_name, pk


def _article(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"


def ids_of(global_id: str | None, type_name: str) -> tuple[int, ...]:
    """The primary key of an optional ID argument, as the tuple a filter takes."""
    return () if global_id is None else (decode_id(global_id, type_name)[1],)


# Markers for the compiled executor (cidadao_gql/execution/compiled/), kept here, beside the types
# they describe, so that schema modules need not import the executor.
BATCH = "cidadao_gql.execution.compiled.batch"
ROWS = "cidadao_gql.execution.compiled.rows"
PAGE = "cidadao_gql.execution.compiled.page"
COUNT = "cidadao_gql.execution.compiled.count"
LOOKUP = "cidadao_gql.execution.compiled.lookup"
LIST = "cidadao_gql.execution.compiled.list"
ROW_TYPES: set[type] = set()


def batched(loader: str, key: str) -> dict[str, Any]:
    """Field metadata marking a relation resolver as plannable: it loads one row with
    `info.context.loaders.<loader>.load(self.<key>)` and returns `<Type>.from_row(row)` (or
    None when the key or the row is None, if the field is nullable), and nothing else."""
    return {BATCH: (loader, key)}


def listed(loader: str, key: str, limit: int) -> dict[str, Any]:
    """Field metadata marking a list resolver as plannable in one statement: it loads rows
    with `info.context.loaders.<loader>.load(self.<key>)` (ordered by id) and returns
    `<Type>.from_row(row)` of the first `limit` of them, and nothing else."""
    return {LIST: (loader, key, limit)}


def rows_of(source: str) -> dict[str, Any]:
    """Field metadata: the objects this field returns are made from rows the compiled
    path may take as they are: `self.row` ("row") or the rows of `self.edges` ("edges")."""
    return {ROWS: source}


def paged(source: ChildPage) -> dict[str, Any]:
    """Field metadata marking a connection resolver as plannable: it returns
    `child_connection(info, source, self.pk, …, **its arguments)` (or root_connection, for
    a root list) and nothing else, so the compiled path may fetch the pages of every
    parent of a level in one call instead."""
    return {PAGE: source}


def looked_up(loaders: Mapping[str, str]) -> dict[str, Any]:
    """Field metadata marking `node(id:)` as plannable: it decodes its global ID, loads the
    row of the ID's type with `info.context.loaders.<loaders[type]>.load(pk)` and returns
    `<Type>.from_row(row)` (None when there is no row), and nothing else."""
    return {LOOKUP: dict(loaders)}


def from_columns(cls: type[T]) -> type[T]:
    """Marks a type made by `from_row` = `build(cls, row, **enum members of same-named
    columns)`: each field is the column of its name, enums from their values, `id` from
    the `id` column. The compiled path reads such rows directly, without the objects."""
    ROW_TYPES.add(cls)
    return cls


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    pk: strawberry.Private[int]

    @strawberry.field(description="Global ID: opaque, stable, unique across types.")
    def id(self) -> strawberry.ID:
        return encode_id(type(self).__name__, self.pk)


@cache
def _columns(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and f.name != "pk")


def build(cls: Callable[..., T], row: Record, **converted: Any) -> T:
    """An object type from its row: each field from the column of the same name and `pk`
    from `id`, except the `converted` fields, given as they must be."""
    values = {name: row[name] for name in _columns(cls) if name not in converted}
    return cls(pk=row["id"], **values, **converted)


def existing(row: Record | None) -> Record:
    """The row of a required relation; the foreign key promises it, so None is our bug."""
    if row is None:
        raise LookupError("a required related row is missing")
    return row


def encode_cursor(ordering: Ordering, row: Record) -> str:
    return _cursor(ordering.name, ordering.dump(row[ordering.column]), row["id"])


def _cursor(name: str, value: str, pk: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([name, value, pk])).decode()


def decode_cursor(cursor: str, ordering: Ordering) -> tuple[Any, int]:
    """The keyset position in a cursor of `ordering`, exactly as encode_cursor writes it:
    the ordering's value read strictly by its column's type, the id a key as a global ID's
    is. InvalidCursor for anything else (NaN, 1e999999, an id of 2^70 or -1), before SQL."""
    try:
        name, text, pk = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, TypeError):  # base64, JSON, ASCII, or not three parts
        raise InvalidCursor(f"{cursor!r} is not a cursor of this list", cursor=cursor) from None
    if name != ordering.name:
        raise InvalidCursor(
            "this cursor belongs to another ordering; start again without it (`after`, `before`)",
            cursor=cursor,
            ordering=ordering.name,
        )
    try:
        if type(text) is not str or type(pk) is not int:
            raise ValueError("a cursor holds a string and an integer")
        value, key = ordering.parse(text), read_key(str(pk))
        if _cursor(name, ordering.dump(value), key) != cursor:
            raise ValueError("not as we write cursors")
        if ordering.column == "id" and value != key:
            raise ValueError("an id ordering's value is the row's id")
    except ValueError:
        raise InvalidCursor(f"{cursor!r} is not a cursor of this list", cursor=cursor) from None
    return value, key


def largest_page() -> int:
    """The page limit of the operation running: MAX_PAGE, or BULK_PAGE for a bulk key's."""
    return _page_limit.get()


def check_page_size(first: int, argument: str = "first") -> None:
    limit = largest_page()
    if not 1 <= first <= limit:
        raise InvalidPageSize(
            f"`{argument}` must be between 1 and {limit}, got {first}",
            argument=argument,
            value=first,
            minimum=1,
            maximum=limit,
        )


def page_request(
    first: int | None, after: str | None, ordering: Ordering,
    columns: frozenset[str] | None = None, last: int | None = None, before: str | None = None,
) -> PageRequest:  # fmt: skip
    """A page forwards (`first` rows `after` a cursor) or backwards (the `last` rows
    `before` one), never both: Relay allows mixing them, but no client needs a page
    that both ends (and its `first` of the `last` rows) rather than one of two."""
    backward = last is not None or before is not None
    if backward and (first is not None or after is not None):
        raise BadUserInput(
            "page forwards with `first` and `after`, or backwards with `last` and `before`;"
            " not both",
            arguments=[n for n, v in (("first", first), ("after", after), ("last", last),
                                      ("before", before)) if v is not None],
        )  # fmt: skip
    size = last if backward and last is not None else first if first is not None else DEFAULT_PAGE
    check_page_size(size, "last" if backward else "first")
    cursor = before if backward else after
    position = None if cursor is None else decode_cursor(cursor, ordering)
    if columns is not None:  # what cursors are made of, too
        columns = columns | {"id", ordering.column}
    return PageRequest(size, ordering, position, columns, backward)


def page_slice(rows: Sequence[Record], page: PageRequest) -> tuple[Sequence[Record], bool, bool]:
    """The rows a page shows, in the list's order, and whether rows follow it and precede
    it. A page backwards comes nearest its cursor first, its extra row (more before) last;
    across a cursor, the rows on the other side are said to exist (the cursor's own row
    did), as Relay allows, without a query to check."""
    more = len(rows) > page.first
    shown = rows[: page.first]
    if page.backward:
        return shown[::-1], page.after is not None, more
    return shown, more, page.after is not None


def columns_of(info: Info) -> frozenset[str] | None:
    """The columns a connection's caller reads of each row, or None for all of them. The
    compiled executor says (its plans know the selection), on the resolve info it passes,
    which Strawberry wraps (strawberry_internals.raw_info); the ordinary path's says
    nothing, so its rows are whole (`Edge.node` makes objects of them)."""
    columns: frozenset[str] | None = getattr(raw_info(info), "columns", None)
    return columns


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    row: strawberry.Private[Record]
    ordering: strawberry.Private[Ordering]
    make: strawberry.Private[Callable[[Record], T]]

    @strawberry.field(metadata=rows_of("row"), directives=[Cost(weight=str(FIELD_COSTS["*.node"]))])
    def node(self) -> T:
        return self.make(self.row)  # made when asked for

    @strawberry.field(description="Where this edge sits: pass it as `after` for what follows.")
    def cursor(self) -> str:
        return encode_cursor(self.ordering, self.row)  # only when asked for


@strawberry.type
class Connection(Generic[T]):
    # The page's wrappers weigh nothing (cost_tables: the connection field reads the page).
    edges: list[Edge[T]] = strawberry.field(directives=[Cost(weight=str(FIELD_COSTS["*.edges"]))])
    page_info: PageInfo = strawberry.field(directives=[Cost(weight=str(FIELD_COSTS["*.pageInfo"]))])
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description="Nodes of this page, without cursors.",
        metadata=rows_of("edges"),
        directives=[Cost(weight=str(FIELD_COSTS["*.nodes"]))],
    )
    def nodes(self) -> list[T]:
        return [edge.node() for edge in self.edges]

    @strawberry.field(
        description="Rows in the whole list under the same filter (one query).",
        # Specialized connections copy this field before the schema is built, so the
        # weight goes here rather than through apply_cost_directives.
        directives=[Cost(weight=str(FIELD_COSTS["*.totalCount"]))],
        metadata={COUNT: True},
    )
    async def total_count(self) -> int:
        return await self.counter()


def to_connection(
    rows: Sequence[Record],
    page: PageRequest,
    make_node: Callable[[Record], T],
    counter: Callable[[], Awaitable[int]],
) -> Connection[T]:
    shown, has_next, has_previous = page_slice(rows, page)
    ordering = page.ordering
    edges = [Edge(row=r, ordering=ordering, make=make_node) for r in shown]
    info = PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=edges[0].cursor() if edges else None,
        end_cursor=edges[-1].cursor() if edges else None,
    )
    return Connection(edges=edges, page_info=info, counter=counter)


async def root_connection(
    info: Info, source: ChildPage, make_node: Callable[[Record], T], **arguments: Any
) -> Connection[T]:
    """A page of a root list (`source` without a parent column)."""
    loaders = info.context.loaders
    filters, page = source.request(arguments, columns_of(info))
    rows = await loaders.page(source.entity, filters, page)
    return to_connection(rows, page, make_node, lambda: loaders.count(source.entity, filters))


def _unfiltered(arguments: Mapping[str, Any]) -> Filters:
    return no_filters


@dataclasses.dataclass(frozen=True, slots=True)
class ChildPage:
    """A connection of a parent's children: the rows of `entity` whose `parent_column` is
    the parent's id (None: a root list, all the rows), filtered by `where` and ordered by
    `order` (an ordering's name, or one computed by `order`), both from the field's
    arguments by their Python names. The resolver answers with it (child_connection,
    root_connection), and the compiled executor, told by the field's metadata (`paged`),
    fetches every parent's page of a level in one call."""

    entity: Entity
    parent_column: str | None
    order: str | Callable[[Mapping[str, Any]], str]
    where: Callable[[Mapping[str, Any]], Filters] = _unfiltered

    def request(
        self, arguments: Mapping[str, Any], columns: frozenset[str] | None
    ) -> tuple[Filters, PageRequest]:
        """The filters and the page the arguments ask for; a domain error if they are bad."""
        filters = self.where(arguments)
        order = self.order if isinstance(self.order, str) else self.order(arguments)
        page = page_request(
            arguments.get("first"), arguments.get("after"), self.entity.ordering(order),
            columns, arguments.get("last"), arguments.get("before"),
        )  # fmt: skip
        return filters, page

    async def pages(
        self, loaders: Loaders, parent_ids: Sequence[int], filters: Filters, page: PageRequest
    ) -> list[list[Record]]:
        """Every parent's page at once (up to `first + 1` rows each), in one statement."""
        if self.parent_column is None:  # a root list: its one parent is the query
            return [await loaders.page(self.entity, filters, page) for _ in parent_ids]
        return await loaders.pages_of(self.entity, self.parent_column, parent_ids, filters, page)

    async def counts(
        self, loaders: Loaders, parent_ids: Sequence[int], filters: Filters
    ) -> list[int]:
        if self.parent_column is None:
            return [await loaders.count(self.entity, filters) for _ in parent_ids]
        return await loaders.counts_of(self.entity, self.parent_column, parent_ids, filters)


async def child_connection(
    info: Info, source: ChildPage, parent_id: int, make_node: Callable[[Record], T],
    **arguments: Any,
) -> Connection[T]:  # fmt: skip
    """A page of a parent's children; sibling parents share one batched statement."""
    loaders = info.context.loaders
    filters, page = source.request(arguments, columns_of(info))
    entity, column = source.entity, source.parent_column
    assert column is not None, "a root list: root_connection"
    rows = await loaders.child_pages(entity, column, filters, page).load(parent_id)

    async def count() -> int:
        total: int = await loaders.child_counts(entity, column, filters).load(parent_id)
        return total

    return to_connection(rows, page, make_node, count)
