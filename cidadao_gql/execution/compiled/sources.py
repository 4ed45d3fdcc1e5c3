"""Root pages whose filter the ordering's index does not serve, in the one statement (tree).

Such a page has several reads that give the same rows at very different costs (issue 23:
the ordering's index walked, the matches read first in a fence, a walk per value, a day at
a time), which the data layer chooses from the planner's estimates and natural keys looked
up first (`sql.choose_page`): awaited work the writer, synchronous, cannot do. So before
the statement is written, each such root page's read is chosen as the ordinary path chooses
it, with the same statements (estimates kept per process, keys looked up), and the writer
embeds that read as the page's rows: the same rows read as the ordinary path, in one
statement with the page's count, relations and pages below.

A page of children (nested, many parents) is chosen per parent (`sql._per_parent`), and the
parents are rows of the same statement: so its filter's matches are estimated before the
statement is written (the same EXPLAIN estimates, kept per process), and each parent's
lateral subquery chooses in SQL, by the count of children its row keeps, between its walk
and the filter's own index (`per_parent`): the same rows as the levels read, in one
statement. Issue 16: 10 agencies × their 5 largest direct purchases were three statements.

A choice is kept with the plan's price (per plan and set of variables: `Kept.current`) while
the data does not change, for KEPT_SECONDS at most (the estimates behind it are kept as long:
page_plans.ESTIMATE_SECONDS). It had been made again on every run, which cost each run its
keys looked up, a sphere's agencies named, a date range's ends read, and 0.1 ms of this
process' CPU when none of them. What the choice looked up changes the rows (an agency's id
for its CNPJ, the days of a range), so a kept choice is never trusted blindly: the
statement reads the data version (cache_versions, bumped in the same transaction as any
write: migration 0016) in its own snapshot, and a run whose statement reads another version
than the choice was made at is answered again with a new choice. A choice is kept only when
the statement that followed it read the version this instance knew before choosing (then no
write came between the lookups and the statement). A choice made again writes its statement
again only when its reads differ: statements are kept by the reads' texts (`Kept.written`),
the arguments of the new choice put in place of the ones it was written with.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, cast

from cidadao_gql.data import page_plans
from cidadao_gql.data.child_pages import DETERMINED
from cidadao_gql.data.kept_counts import kept_counts_of
from cidadao_gql.data.sql import FILTER_THEN_PARENT, Entity, PageSource, choose_page, keyset
from cidadao_gql.data.statement import Clause, Sql
from cidadao_gql.errors import Fallback, Unplannable
from cidadao_gql.execution.compiled.pages import request_of
from cidadao_gql.execution.compiled.selection import FieldPlan

_PARAMETER = re.compile(r"\$(\d+)")
UNSERVED = "a filter the ordering's index does not serve"
# lookups.statement_of's: text, arguments, relations, and the root fields left to the levels
# (by key: why), the statement's columns the others'
Written = tuple[str, list[Any], bool, dict[str, str]]
KEPT_STATEMENTS = 8  # per plan and set of variables: the reads one page may choose, and more
KEPT_SECONDS = page_plans.ESTIMATE_SECONDS
# The data version in the statement's own snapshot (its last column; 1: never bumped, as
# cache/versions.Versions.get says).
VERSION = "coalesce((SELECT version FROM cache_versions WHERE namespace = 'data'), 1)"


class Chosen:
    """The reads chosen for a run's root pages (`reads`, by FieldPlan id), where the
    statement written put each one's arguments (`places`: the first one's index), the
    estimated matches of each unserved page of children's filter (`matches`, by id), the
    data version this instance knew before choosing (None: no cache, nothing known) and
    whether this run reuses a kept choice (`kept`)."""

    __slots__ = ("kept", "matches", "places", "reads", "version", "written")

    def __init__(
        self, reads: dict[int, PageSource], matches: dict[int, float], version: int | None = None
    ) -> None:
        self.reads = reads
        self.places: dict[int, int] = {}
        self.matches = matches
        self.version = version
        self.kept = False
        self.written: Written | None = None


class Kept:
    """Statements written around chosen reads, by the reads' texts."""

    __slots__ = ("current", "written")

    def __init__(self) -> None:
        self.written: dict[tuple[str, ...], tuple[Written, dict[int, int]]] = {}
        self.current: tuple[Chosen, float] | None = None  # the choice kept, until when

    def get(self, chosen: Chosen) -> Written | None:
        """The statement kept for reads of the same texts, with `chosen`'s arguments."""
        found = self.written.get(tuple(read.text for read in chosen.reads.values()))
        if found is None:
            return None
        (text, template, relations, left), places = found
        args = list(template)
        for plan, start in places.items():
            read = chosen.reads[plan]
            args[start : start + len(read.args)] = read.args  # as many: the same text
        return text, args, relations, left

    def keep(self, written: Written, chosen: Chosen) -> None:
        if len(self.written) >= KEPT_STATEMENTS:
            self.written.pop(next(iter(self.written)))
        key = tuple(read.text for read in chosen.reads.values())
        self.written[key] = (written, dict(chosen.places))


async def written(
    plans: list[FieldPlan], run: Any, key: int, write: Callable[[list[FieldPlan], Any], Written]
) -> Written | str:
    """The statement of root fields `plans` (`write`: lookups.statement_of) or why there is
    none, kept in the run's price under `key`: as written when it embeds no chosen read, by
    the reads chosen (`Kept`) when it does."""
    known = run.price.arguments
    given = known.get(key)
    if given is not None and not isinstance(given, Kept):
        return cast("Written | str", given)
    found: Kept | None = given
    cache = run.info.context.loaders.cache
    version = None if cache is None else cache.versions.get("data")
    if found is not None and found.current is not None:
        last, until = found.current
        if last.version == version and time.monotonic() < until:
            run.chosen = last
            assert last.written is not None
            return last.written
        found.current = None  # the data or the estimates have moved on since
    chosen = run.chosen = await choose_sources(plans, run, version)
    again = None if found is None else found.get(chosen)
    if again is not None:
        chosen.written = again
        return again
    try:
        text = write(plans, run)
    except Unplannable as unplannable:
        known[key] = str(unplannable)
        return str(unplannable)
    if not chosen.reads:
        known[key] = text
        return text
    head, _, tail = text[0].partition(" FROM ")  # (lookups.statement_of's: SELECT columns FROM)
    text = chosen.written = (f"{head}, {VERSION} FROM {tail}", *text[1:])
    kept = known[key] = found or Kept()
    kept.keep(text, chosen)
    return text


def settled(run: Any, key: int, row: Any, columns: int) -> bool:
    """Whether the statement's `row` (of `columns` columns and the data version) answers the
    run: not when it reused a kept choice and the data has changed since (then that choice
    is dropped). A new choice is kept when no write came between it and its statement."""
    chosen: Chosen | None = run.chosen
    if chosen is None or not chosen.reads:
        return True
    seen = row[columns]
    kept = run.price.arguments.get(key)
    if not isinstance(kept, Kept):  # (dropped meanwhile: plans' prices are bounded)
        return not chosen.kept or seen == chosen.version
    if chosen.kept:
        if seen == chosen.version:
            return True
        if kept.current is not None and kept.current[0] is chosen:
            kept.current = None
        return False
    if chosen.version is not None and seen == chosen.version:
        chosen.kept = True
        kept.current = (chosen, time.monotonic() + KEPT_SECONDS)
    return True


async def choose_sources(plans: list[FieldPlan], run: Any, version: int | None) -> Chosen:
    """The read of each root page of `plans` that needs a choice, and the estimated matches
    of each page of children below them whose filter its ordering's index does not serve."""
    chosen: dict[int, PageSource] = {}
    matches: dict[int, float] = {}
    db = run.info.context.loaders.db
    for plan in _pages(plans):
        node = plan.page
        assert node is not None
        filters, page = request_of(plan, node, run)
        sql = Sql()
        parent = node.source.parent_column
        if parent is not None:  # the parent's clause, to say what the ordering serves
            sql.filter(f"t.{parent} = 0", parent, equality=True)
        filters(sql)
        keyset(sql, "t", page)
        if page_plans.served(sql, page.ordering, parent) is None:
            continue
        table = node.source.entity.table
        try:
            if parent is None:
                chosen[id(plan)] = await choose_page(db, node.source.entity, filters, page)
                continue
            if any(c.among or c.key or c.alone for c in sql.clauses[1:]):
                continue  # rows named by another key, words: `per_parent` leaves it to the levels
            where = sql.where_sql(sql.clauses[1:])
            found = await page_plans.estimates(db, table, [where], sql.args)
        except Exception as exc:  # (cancelled: the operation timed out; not a fallback)
            raise Fallback from exc
        matches[id(plan)] = float("inf") if found is None else found[where]
    return Chosen(chosen, matches, version)


def _pages(plans: Iterable[FieldPlan]) -> Iterator[FieldPlan]:
    """The connections of `plans` and below them (a node's, as its rows are planned)."""
    for plan in plans:
        if plan.page is not None and plan.children is not None:
            yield plan
        yield from _pages(plan.children or ())
        yield from _pages(rows for _, rows in plan.lookups.values())


def per_parent(
    writer: Any, plan: FieldPlan, sql: Sql, walked: Sequence[Clause], parent: str, read: str,
    counted: list[Clause],
) -> tuple[str, str]:  # fmt: skip
    """The rows of a page of children whose filter its ordering's index does not serve,
    read as the data layer reads them (sql._per_parent), as its estimates choose, per
    parent. `sql.clauses[0]` is the parent's, `walked` the clauses the ordering's index
    serves, `read` the statement's rows with `{where}` for its WHERE and `{gate}` for what
    the parent's children must be. Two branches, one run per parent (a one-time filter on
    the parent's kept count, data.kept_counts):
    - a parent with at most as many children as the filter's estimated matches walks its
      (parent, ordering) index in a fence, the other clauses tested on each row in its
      order (`Clause.tested`: no semi-join hashed whole per parent): about children ×
      page / (the parent's matches) rows read;
    - a larger one reads through the filter's own index, the parent's written `+ 0` (but
      for an index on the pair: `_paired`): the walk of an index (filter column, ordering)
      where one leads with it, about matches × page / (the parent's matches), and at most
      the filter's matches.
    Each parent reads about the fewer; its count (`counted`: its clauses), the second of
    what this returns, is one of two counts the same way, chosen by a CASE. Left to plan
    one lateral for an average parent, PostgreSQL walked the ten largest agencies whole for
    a rare modality (795,470 rows read for 40 on 1,000,000 contracts; the levels, 22,743).
    A filter naming other rows by a key of theirs (an agency's sphere or town, a supplier's
    document: `Clause.among`, `Clause.key`) or searching words (`Clause.alone`) has no
    estimate (`choose_sources`) and stays on the levels, which look those rows up first
    (`sql._resolve_keys`) and count a search's matches rather than estimate them: read per
    parent here, the four largest suppliers' contracts in a sphere's agencies read
    1,087,822 rows over 8 pages, the levels 430; the four largest agencies' 5 contracts
    matching two words took 520 ms, the levels 7 (EXPLAIN estimates two words' matches as
    the product of each one's, far fewer than there are)."""
    chosen: Chosen | None = getattr(writer.run, "chosen", None)
    found = None if chosen is None else chosen.matches.get(id(plan))
    node = plan.page
    assert node is not None and node.source.parent_column is not None
    if found is None:
        raise Unplannable(UNSERVED)
    table = node.source.entity.table
    own = sql.clauses[0]
    order = read.rpartition(" ORDER BY ")[2].partition(" LIMIT ")[0]
    rest = [c for c in sql.clauses if all(c is not s for s in walked)]
    fence = (
        f"(SELECT t.* FROM {table} t WHERE {{gate}}{sql.where_sql(walked)}"
        f" ORDER BY {order} OFFSET 0) t"
    )
    walk = read.replace(f"FROM {table} t WHERE ", f"FROM {fence} WHERE ", 1)
    walk = walk.replace("{where}", sql.where_sql(rest, each_row=True), 1)
    count = f"SELECT count(*) FROM {table} t WHERE {sql.where_sql(counted)}"
    # A column often constant per parent (an agency's UF, child_pages.DETERMINED): a parent
    # none of whose children holds the value reads nothing, by one probe of its index on
    # (parent, column) (the largest agency was walked whole for the 0 contracts of a UF it
    # has none in).
    held = " AND ".join(
        f"EXISTS (SELECT FROM {table} t WHERE {own.sql} AND {c.sql})"
        for c in sql.clauses[1:]
        if c.column in DETERMINED.get((table, own.column or ""), ())
    )
    held = f"{held} AND " if held else ""
    count = f"SELECT CASE WHEN {held}TRUE THEN ({count}) ELSE 0 END" if held else count
    kept = kept_counts_of(table, node.source.parent_column)
    if kept is None or found == float("inf"):
        return walk.replace("{gate}", held, 1), count
    size = f"(SELECT {kept[1]} FROM {kept[0]} WHERE id = {parent})"
    writer.args.append(found)
    bound = f"${len(writer.args)}::float8"
    through = own if _paired(node.source.entity, own.column or "", rest) else (
        Clause(own.sql.replace(" = ", " + 0 = ", 1))
    )  # fmt: skip
    matched = f"{held}{size} > {bound} AND {sql.where_sql([through, *sql.clauses[1:]])}"
    rows = (
        f"({walk.replace('{gate}', f'{held}{size} <= {bound} AND ', 1)})"
        f" UNION ALL ({read.replace('{where}', matched, 1)})"
    )
    others = f"SELECT count(*) FROM {table} t WHERE {sql.where_sql([through, *counted[1:]])}"
    return rows, f"SELECT CASE WHEN {size} <= {bound} THEN ({count}) ELSE ({others}) END"


def _paired(entity: Entity, parent: str, clauses: Sequence[Clause]) -> bool:
    """Whether an index holds the parent's column and a clause's together (contracts'
    (supplier, agency, value, id), (uf, supplier)), which then reads a large parent's
    matches better than the filter's index alone: a supplier's contracts in a town's
    agencies read through the town's largest agency, 54,396 rows for 0, with `+ 0`."""
    pairs = {frozenset(p.split("+")) for o in entity.orderings for p in o.served if "+" in p}
    pairs |= {frozenset((c, parent)) for c in FILTER_THEN_PARENT.get((entity.table, parent), ())}
    return any(frozenset((c.column, parent)) in pairs for c in clauses if c.column)


def embedded(
    writer: Any, plan: FieldPlan, unserved: object, counted: list[Clause]
) -> tuple[list[Clause], str | None]:
    """The clauses a count of the page tests and the statement of its rows (None: the
    writer's own, which its ordering's index serves). A page whose read was chosen takes
    the arguments of the choice in place of the ones the writer's clauses took (the last
    `own` of the statement's), renumbered after the statement's. (A page of children is
    read per parent: `per_parent`.)"""
    if unserved is None:
        return counted, None
    chosen: Chosen | None = getattr(writer.run, "chosen", None)
    found = None if chosen is None else chosen.reads.get(id(plan))
    if chosen is None or found is None:
        raise Unplannable(UNSERVED)
    args: list[Any] = writer.args
    assert len(args) >= found.own
    del args[len(args) - found.own :]
    offset = chosen.places[id(plan)] = len(args)
    args.extend(found.args)

    def renumbered(text: str) -> str:
        return _PARAMETER.sub(lambda n: f"${int(n[1]) + offset}", text)

    return [replace(c, sql=renumbered(c.sql)) for c in found.counted], renumbered(found.text)
