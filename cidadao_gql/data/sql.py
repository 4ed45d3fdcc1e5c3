"""The SQL behind the API: batch lookups by key, keyset pages, counts and aggregates.

Nothing here knows GraphQL. Filters arrive as plain frozen values; rows leave as asyncpg
records. A page of children for many parents is one statement (a LATERAL join over the
parent ids), so nested connections cost one round trip per level, not one per parent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cidadao_gql.data import child_pages, page_plans, spread
from cidadao_gql.data.columns import (
    read_date,
    read_integer,
    read_key,
    read_money,
    read_text,
    read_timestamp,
    write_money,
)
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.kept_counts import kept_count
from cidadao_gql.data.statement import Clause, Filters, Sql


@dataclass(frozen=True, slots=True)
class Ordering:
    """A keyset ordering: a non-null column, a direction, and how to read cursor values
    (`parse`: strictly, a ValueError for anything `dump` would not have written)."""

    name: str
    column: str
    descending: bool
    parse: Callable[[str], Any]
    # Columns an equality on which an index (column, this column, id) serves with it, and
    # pairs ("agency_id+modality") served by an index (first, second, this column, id).
    served: frozenset[str] = frozenset()

    def dump(self, value: Any) -> str:
        """The value as a cursor holds it: one text per value, so that a cursor is taken
        back only as it was written (`parse` may read other spellings of the same value)."""
        if isinstance(value, date | datetime):
            return value.isoformat()
        return write_money(value) if isinstance(value, Decimal) else str(value)


@dataclass(frozen=True, slots=True)
class Entity:
    table: str
    columns: tuple[str, ...]
    orderings: tuple[Ordering, ...]

    def select_list(self, alias: str, only: frozenset[str] | None = None) -> str:
        """The columns (`only` those, when given), in the table's order."""
        return ", ".join(f"{alias}.{c}" for c in self.columns if only is None or c in only)

    def ordering(self, name: str) -> Ordering:
        return next(o for o in self.orderings if o.name == name)


def _orderings(
    *specs: tuple[str, str, Callable[[str], Any]] | tuple[str, str, Callable[[str], Any], str],
) -> tuple[Ordering, ...]:
    """Both directions of each (name, column, parse[, served columns]) (the indexes behind
    `served` are in the migrations)."""
    return tuple(
        Ordering(f"{spec[0]}_{direction}", spec[1], direction == "DESC", spec[2],
                 frozenset(spec[3].split()) if len(spec) > 3 else frozenset())
        for spec in specs
        for direction in ("ASC", "DESC")
    )  # fmt: skip


BY_ID = _orderings(("ID", "id", read_key))
# Names and totals (contracted_total: kept by triggers on contracts, migration 0012).
_BY_NAME_OR_TOTAL = (("NAME", "name", read_text), ("TOTAL_VALUE", "contracted_total", read_money))
AGENCIES = Entity(
    "agencies",
    ("id", "cnpj", "name", "sphere", "power", "uf", "municipality", "ibge_code",
     "contracted_total"),
    _orderings(("ID", "id", read_key, "uf sphere"), *_BY_NAME_OR_TOTAL),
)  # fmt: skip
SUPPLIERS = Entity(
    "suppliers",
    ("id", "document", "kind", "name", "size", "legal_nature", "registered_on",
     "contracted_total"),
    # By name, a size is a range of (size, name, id) (migration 0015).
    _orderings(("ID", "id", read_key), (*_BY_NAME_OR_TOTAL[0], "size"), _BY_NAME_OR_TOTAL[1]),
)  # fmt: skip
PROCUREMENTS = Entity(
    "procurements",
    ("id", "pncp_control_number", "agency_id", "year", "sequence", "number", "process",
     "modality", "status", "legal_basis", "object", "estimated_total", "homologated_total",
     "srp", "uf", "municipality", "published_at", "opening_at", "closing_at",
     "estimated_or_zero"),
    _orderings(("PUBLISHED_AT", "published_at", read_timestamp,
                "agency_id uf modality status year agency_id+modality"),
               ("VALUE", "estimated_or_zero", read_money, "agency_id uf modality"),
               ("ID", "id", read_key)),
)  # fmt: skip
ITEMS = Entity(
    "items",
    ("id", "procurement_id", "number", "description", "catalog_code", "unit", "quantity",
     "estimated_unit_price", "estimated_total", "material_or_service"),
    _orderings(("NUMBER", "number", read_integer, "procurement_id"), ("ID", "id", read_key)),
)  # fmt: skip
AWARDS = Entity(
    "awards",
    ("id", "item_id", "supplier_id", "sequence", "quantity", "unit_price", "total",
     "awarded_on", "status"),
    _orderings(("ID", "id", read_key, "supplier_id")),
)  # fmt: skip
# An agency's contracts in one modality by either ordering: (agency_id, modality, column,
# id) (migration 0022).
_CONTRACT_PARENTS = "agency_id supplier_id uf modality agency_id+modality"
CONTRACTS = Entity(
    "contracts",
    ("id", "agency_id", "supplier_id", "procurement_id", "number", "object", "modality", "uf",
     "initial_value", "final_value", "signed_on", "starts_on", "ends_on"),
    _orderings(("SIGNED_ON", "signed_on", read_date, _CONTRACT_PARENTS + " procurement_id"),
               ("VALUE", "final_value", read_money, _CONTRACT_PARENTS + " supplier_id+agency_id"),
               ("ID", "id", read_key)),
)  # fmt: skip
# The unit-price summary per catalog code and unit (migration 0013's view), keyed by its
# number in (code, unit) order.
UNIT_PRICES = Entity(
    "unit_prices",
    ("id", "catalog_code", "unit", "description", "award_count", "min_price", "p25", "median",
     "p75", "max_price"),
    _orderings(("ID", "id", read_key, "catalog_code unit")),
)  # fmt: skip
SANCTIONS = Entity(
    "sanctions",
    ("id", "supplier_document", "register", "starts_on", "ends_on", "authority", "reason"),
    BY_ID,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    ordering: Ordering
    after: tuple[Any, int] | None = None
    # The columns the caller reads of each row, the keyset's included; None: all of them.
    columns: frozenset[str] | None = None
    # A page before the cursor (`last`/`before`): read in the opposite order, so its rows
    # come nearest the cursor first, the extra one (a previous page) last.
    backward: bool = False


async def fetch_by_ids(db: Database, entity: Entity, ids: Sequence[int]) -> list[Record | None]:
    """Rows for `ids`, in the same order, None where a row does not exist."""
    rows = await db.fetch(
        f"SELECT {entity.select_list('t')} FROM {entity.table} t WHERE t.id = any($1::bigint[])",
        list(ids),
    )
    by_id = {r["id"]: r for r in rows}
    return [by_id.get(i) for i in ids]


async def fetch_by_column(
    db: Database, entity: Entity, column: str, keys: Sequence[Any], kind: str
) -> list[list[Record]]:
    """All rows whose `column` is each of `keys` (one list per key, ordered by id)."""
    rows = await db.fetch(
        f"SELECT {entity.select_list('t')} FROM {entity.table} t"
        f" WHERE t.{column} = any($1::{kind}[]) ORDER BY t.id",
        list(keys),
    )
    grouped: dict[Any, list[Record]] = {k: [] for k in keys}
    for r in rows:
        grouped[r[column]].append(r)
    return [grouped[k] for k in keys]


def _keyset(sql: Sql, alias: str, page: PageRequest) -> str:
    """The cursor's condition (a clause on the ordering's column) and the ORDER BY."""
    o = page.ordering
    descending = o.descending != page.backward
    if page.after is not None:
        value, last_id = page.after
        op = "<" if descending else ">"
        if o.column == "id":
            sql.filter(f"{alias}.id {op} {sql.arg(last_id)}", "id")
        else:
            sql.filter(
                f"({alias}.{o.column}, {alias}.id) {op} ({sql.arg(value)}, {sql.arg(last_id)})",
                o.column,
            )
    direction = "DESC" if descending else "ASC"
    tail = f"{alias}.id {direction}"
    return "ORDER BY " + (tail if o.column == "id" else f"{alias}.{o.column} {direction}, {tail}")


keyset = _keyset  # for a caller writing pages into a statement of its own (compiled.tree)


async def _resolve_keys(db: Database, sql: Sql, table: str, page: int) -> None:
    """Clauses naming a row by its natural key (an agency's CNPJ) compare with its id
    instead, looked up first: a subquery's value is unknown when the statement is planned,
    so the planner took the largest agency (10,070 contracts) for an average one (500).
    So do rows named by another key, when few (`spread.resolve_among`)."""
    for i, clause in enumerate(sql.clauses):
        if clause.among is not None:
            sql.clauses[i] = await spread.resolve_among(db, sql, clause, table, page)
        if clause.key is not None:
            table, key, arg = clause.key
            found = await db.fetchval(f"SELECT id FROM {table} WHERE {key} = $1", sql.args[arg])
            sql.args[arg] = found  # None: `= NULL`, no row, as the subquery's NULL was
            sql.clauses[i] = Clause(f"t.{clause.column} = ${arg + 1}::bigint",
                                    clause.column, clause.equality)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PageSource:
    """A root page's read as the plan choice wrote it: `text`, a statement of its first + 1
    rows in the page's order (every column the page reads, maybe more), over `args`;
    `counted`, the filter's clauses as resolved, numbered as `args` (what a count tests);
    `own`, how many of `args` the filter and the cursor wrote (the others, the choice)."""

    text: str
    args: list[Any]
    counted: tuple[Clause, ...]
    own: int


async def fetch_page(
    db: Database, entity: Entity, filters: Filters, page: PageRequest
) -> list[Record]:
    """Up to `first + 1` rows after the cursor; the extra row only says there is a next page."""
    source = await choose_page(db, entity, filters, page)
    return await db.fetch(source.text, *source.args)


# The page's size is written in (an int, 2..101), not a parameter: under `LIMIT $n`
# PostgreSQL costs a generic plan for a tenth of the rows, never takes it, and plans the
# statement again on every run. With the size written in it keeps a generic plan where that
# costs no more (issue 16: a state's agencies by total, 0.31 ms of PostgreSQL's CPU per run
# of the compiled statement, 0.11 ms; PostGraphile v5 writes its limits in too).


async def choose_page(
    db: Database, entity: Entity, filters: Filters, page: PageRequest
) -> PageSource:
    """How a root page is read (natural keys looked up, walks per value, a day at a time, the
    ordering's index walked or the matches first): what `fetch_page` sends, and what the
    compiled path embeds in its one statement (execution/compiled/sources.py)."""
    sql = Sql()
    filters(sql)
    counted = len(sql.clauses)
    order = _keyset(sql, "t", page)
    own = len(sql.args)

    def chosen(text: str) -> PageSource:
        return PageSource(text, sql.args, tuple(sql.clauses[:counted]), own)

    limit = int(page.first + 1)  # written in, not a parameter (above)

    served = page_plans.served(sql, page.ordering)
    if served is not None:
        await _resolve_keys(db, sql, entity.table, page.first + 1)
        served = page_plans.served(sql, page.ordering)
    columns = entity.select_list("t", page.columns)
    o = page.ordering
    walks = None
    if served is not None:
        walks = spread.value_walks(sql, o.served, lambda s: page_plans.served(s, o))
    if walks is not None:
        return chosen(walks.statement(entity.table, columns, order, limit))
    source = f"SELECT {columns} FROM {entity.table} t WHERE {sql.where_sql()}"
    days = None
    if served is not None:
        walked = replace(o, descending=o.descending != page.backward)  # the read's direction
        days = await page_plans.days(db, entity.table, sql, walked, page.first + 1)
    if days is not None:  # a day at a time, each day a range of (day, value, id)
        day = page_plans.DAILY[entity.table][0]
        # Read until the page is full, days in the ordering's order (a LATERAL over the days
        # is a nested loop, which keeps them in order), or every day's page, merged.
        outer = f"{order} LIMIT {limit}" if days.merged else f"LIMIT {limit}"
        return chosen(
            f"""SELECT t.* FROM generate_series({sql.arg(days.first)}::date,
                {sql.arg(days.last)}::date, {sql.arg(timedelta(days=days.step))}::interval)
                AS d(day) CROSS JOIN LATERAL ({source} AND t.{day} = d.day::date {order}
                LIMIT {limit}) t {outer}"""
        )
    if served is not None:
        # The matches first are costed as what the filter's own index reads: the clauses
        # the walk does not serve, without the cursor's range or the ordering's equality
        # (the planner ANDs that index with the range's, reading the filter's entries
        # whole). A page before a cursor near the list's start, under a broad filter
        # (`last`/`before`), estimated few matches and was read matches-first: 8,719
        # rows for 20 (a broad word by date, 100,000 contracts), 8,692 (a broad word's
        # procurements by value, 1,000,000), 2,267 (a broad year's); walked in the
        # reverse order from the cursor, as the forward page reads it, 20 to 200.
        unserved = [c for c in sql.clauses if all(c is not s for s in served)]
        scope = page_plans.Scope(sql.clauses, served, unserved)
        (read,) = await page_plans.choose(
            db, entity.table, sql, [scope], page.first + 1, parents=False
        )
        if read == "first":
            source = f"WITH matches AS MATERIALIZED ({source}) SELECT * FROM matches t"
        elif served:
            # The walk of the ordering's index under the clauses it serves, in a fence
            # (OFFSET 0), the other clauses tested on its rows in its order: left to itself
            # the planner ANDed a broad word's 8,461 entries in the search index with a
            # cursor's range of 200 rows (8,719 read for 20); walked from the cursor, 200.
            # No ORDER BY outside, so that the LIMIT reaches the walk (PostgreSQL plans a
            # fenced subquery for every row when the query above it sorts) and the rows
            # leave in the walk's order; so too the clauses tested on them are tests of each
            # row, not joins (`Clause.tested`: PostgreSQL put a sphere's agencies outside the
            # walk's rows and answered them out of order). Every column, whatever the page
            # reads (`_walked`).
            inner = f"SELECT t.* FROM {entity.table} t WHERE {sql.where_sql(served)}"
            rest = sql.where_sql([c for c in sql.clauses if all(c is not s for s in served)], True)
            text = f"SELECT {_walked(entity)} FROM ({inner} {order} OFFSET 0) t WHERE {rest}"
            return chosen(f"{text} LIMIT {limit}")
    return chosen(f"{source} {order} LIMIT {limit}")


def _walked(entity: Entity) -> str:
    """What a page read by a walk in a fence selects: every column, whatever the page reads
    (the fence itself selects `t.*`, whose columns the clauses tested above it read: a page
    of numbers above a value failed on `t.final_value` when the fence selected the page's
    columns alone, and the compiled path answered it again, twice, on the ordinary path).
    On fewer columns an index may cover all that the fence is asked for, and PostgreSQL
    reads it whole and sorts it rather than walk the ordering's index: on 1,000,000
    contracts the five largest suppliers' contracts in federal agencies by value read
    296,058 rows for 105 through (supplier, agency, value, id), 2,445 with every column."""
    return entity.select_list("t")


# Nested lists (a parent's page of children, for many parents at once). Unfiltered, each
# parent's page is a range of its (parent, ordering) index: a LATERAL over the parent ids,
# planned once, reads what it returns. Filtered, the parents differ too much for one plan:
# the LATERAL is planned for an average parent (20 contracts for a supplier), so the five
# largest suppliers with a broad UF had their 68,150 contracts read whole and sorted for 105
# rows (100,000 contracts; up to 590,000 rows and 7 s on 1,000,000), and a matches-first
# read of all the parents at once read the largest agency's 11,382 contracts for a UF it
# has none in. So each parent is a branch of a UNION ALL with its id written in as a literal
# (an integer: nothing to quote), which PostgreSQL plans with that parent's own statistics,
# as it would not a parameter (after five runs of one statement it may settle on a generic
# plan, made for the average parent). Each parent is walked, read whole, or has its matches
# read first, as one EXPLAIN of them all says (`page_plans.choose`); the matches first are read
# through the filter's own index (the parent's would read it whole), once for all the
# parents that chose it. The other values stay parameters: as for a root page, the statement the choice
# writes is one whose plans suit the values that chose it. Measured (benchmarks/filters.py,
# 100,000 contracts): the five largest suppliers with a broad UF read 345 rows for 105 (was
# 68,150), the largest agency and four small ones in a rare UF 380 for 21 (was 11,382), a
# broad word 1,137 for 105 (was 68,150, 1 s). A natural key (an agency's CNPJ) is looked up
# first (`_resolve_keys`): the planner cannot see through a subquery to the row it names.


async def fetch_child_pages(
    db: Database, entity: Entity, parent_column: str, parent_ids: Sequence[int],
    filters: Filters, page: PageRequest, settled: bool = False,
) -> list[list[Record]]:  # fmt: skip
    """A page of children for each parent id, in one statement (`child_pages.settle`: two)."""
    sql = Sql()
    parents = list(dict.fromkeys(int(p) for p in parent_ids))  # int(): written as literals
    sql.filter(f"t.{parent_column} = p.parent_id", parent_column, equality=True)
    filters(sql)
    order = _keyset(sql, "t", page)
    columns = entity.select_list("t", page.columns)
    if len(sql.clauses) == 1:
        # Unfiltered: each parent's keys, an index-only walk, then its rows by id (whole rows,
        # planned for an average parent, were a bitmap scan and sort: 8,126 awards for 21).
        text = f"""SELECT k._parent, {columns} FROM (SELECT p.parent_id AS _parent, c.id FROM
            unnest({sql.arg(parents)}::bigint[]) AS p(parent_id) CROSS JOIN LATERAL (SELECT t.id
            FROM {entity.table} t WHERE {sql.where_sql()} {order} LIMIT {sql.arg(page.first + 1)})
            c) k JOIN {entity.table} t ON t.id = k.id {order.replace("BY", "BY k._parent,", 1)}"""
    elif parents:
        skipped, whole = await child_pages.settle(db, entity.table, sql, parents, settled)
        if skipped or whole:  # these parents' pages unfiltered, the others' filtered
            pages: dict[int, list[Record]] = {p: [] for p in skipped}
            rest = [p for p in parents if p not in skipped | whole]
            for chosen, only in ((list(whole), child_pages.nothing), (rest, filters)):
                read = fetch_child_pages(db, entity, parent_column, chosen, only, page, True)
                pages.update(zip(chosen, await read, strict=True))
            return [pages[int(p)] for p in parent_ids]
        text = await _per_parent(db, entity, sql, parents, page, order)
    else:
        return []
    rows = await db.fetch(text, *sql.args)
    grouped: dict[int, list[Record]] = {p: [] for p in parents}
    for r in rows:
        grouped[r["_parent"]].append(r)
    return [grouped[p] for p in parent_ids]


# (table, parent column): the filter columns of an index (filter column, parent column).
FILTER_THEN_PARENT: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("contracts", "supplier_id"): ("uf",)
}


async def _per_parent(
    db: Database, entity: Entity, sql: Sql, parents: list[int], page: PageRequest, order: str
) -> str:
    """The UNION ALL of the parents' pages, each read as `page_plans.choose` says (`sql.clauses[0]`
    is the parent's)."""
    column = sql.clauses[0].column
    await _resolve_keys(db, sql, entity.table, page.first + 1)
    served = page_plans.served(sql, page.ordering, column)
    rest, walk = sql.clauses[1:], (served or sql.clauses)[1:]
    # Ranges on a column that an index (parent, column, id) orders: the ordering's `served`.
    indexed = {o.column for o in entity.orderings if column in o.served}
    ranges = [c for c in rest if c.column in indexed and not c.equality]
    scopes = [
        page_plans.Scope((own, *rest), (own, *walk), rest, (own, *ranges) if ranges else None)
        for own in (Clause(f"t.{column} = {p}", column, equality=True) for p in parents)
    ]
    reads: list[page_plans.Read] = ["walk"] * len(
        parents
    )  # all served: a walk reads what it returns
    if served is not None:
        reads = await page_plans.choose(db, entity.table, sql, scopes, page.first + 1, parents=True)
    # A parent's walk, rows whole or range in a fence select every column (`_walked`): on a
    # page's few columns the fence over a parent's range became an index-only scan of
    # (signed_on, final_value, id) INCLUDE (supplier_id, agency_id) (migration 0019),
    # every agency's rows of the range read for one's (3,574 rows for 26 on 1,000,000
    # contracts, 246 with every column). (The branches' columns are one list.)
    fenced = served is not None and any(r in ("walk", "whole", "ranged") for r in reads)
    columns = _walked(entity) if fenced else entity.select_list("t", page.columns)
    limit = sql.arg(page.first + 1)
    branches = []
    for p, scope, read in zip(parents, scopes, reads, strict=True):
        source, where = f"{entity.table} t", scope.matches
        if read == "whole":  # the parent's rows in a fence (OFFSET 0), tested and sorted
            inner = f"SELECT t.* FROM {source} WHERE {sql.where_sql(scope.walked)} OFFSET 0"
            source, where = f"({inner}) t", [c for c in scope.matches if c not in scope.walked]
        elif read == "ranged" and scope.ranged:  # the parent's range, in a fence, sorted
            inner = f"SELECT t.* FROM {source} WHERE {sql.where_sql(scope.ranged)} OFFSET 0"
            source, where = f"({inner}) t", [c for c in scope.matches if c not in scope.ranged]
        elif read == "walk" and served is not None:
            # The walk in a fence too, in the ordering's order: left to itself the planner
            # ANDed the largest agency's 978 procurements with a broad word's 838 entries
            # in the search index (1,898 read for 21) where the walk passes 185.
            inner = f"SELECT t.* FROM {source} WHERE {sql.where_sql(scope.walked)} {order} OFFSET 0"
            source, where = f"({inner}) t", [c for c in scope.matches if c not in scope.walked]
        if read != "first":
            branches.append(f"(SELECT {p}::bigint AS _parent, {columns} FROM {source}"
                            f" WHERE {sql.where_sql(where)} {order} LIMIT {limit})")  # fmt: skip
    if "first" in reads:
        # The matches of the parents that read them first, once for all of them, through
        # the filter's own index (`+ 0`: not the parents', which would read a parent whole),
        # in a fence (OFFSET 0) so the sort stays a sort; numbered within each parent.
        ids = ",".join(str(p) for p, read in zip(parents, reads, strict=True) if read == "first")
        # Where an index leads with a filter's column and then the parent's (migration
        # 0014's (uf, supplier_id)), the pair is a range of it: the matches of those parents
        # alone, not the filter's across the table (the five largest suppliers in the three
        # rarest UFs: 8,462 rows read for 95 on 1,000,000 contracts, 1,401 with the pair;
        # one rare UF, 658 and 186).
        paired = any(c.column in FILTER_THEN_PARENT.get((entity.table, column), ())
                     and (c.equality or c.spread is not None) for c in rest)  # fmt: skip
        plus = "" if paired else " + 0"
        matched = sql.where_sql((*rest, Clause(f"t.{column}{plus} = any('{{{ids}}}')")))
        branches.append(f"""(SELECT t._parent, {columns} FROM (
            SELECT t.*, row_number() OVER (PARTITION BY t._parent {order}) AS _rank FROM (
                SELECT t.{column} AS _parent, t.* FROM {entity.table} t
                 WHERE {matched} OFFSET 0) t) t
            WHERE t._rank <= {limit} ORDER BY t._parent, {order.removeprefix("ORDER BY ")})""")
    return "\nUNION ALL ".join(branches)


async def count_rows(db: Database, entity: Entity, filters: Filters) -> int:
    sql = Sql()
    filters(sql)
    kept = kept_count(entity.table, sql.clauses)
    text = f"SELECT count(*) FROM {entity.table} t WHERE {sql.where_sql()}"
    count: int = await db.fetchval(text if kept is None else f"SELECT {kept}", *sql.args)
    return count


async def fetch_supplier_totals(db: Database, supplier_ids: Sequence[int]) -> list[Record | None]:
    """Contract count, total final value and first and last signing day per supplier: the
    count and total kept on the supplier's row (migrations 0012, 0017), the days two probes
    of contracts_supplier_signed_idx each. Aggregated, the ten largest suppliers' 380,066
    contracts took 493 ms of PostgreSQL's CPU per request on 1,000,000 contracts (issue 16);
    read, 0.5 ms. A supplier without contracts has no row, as its aggregate had none."""
    rows = await db.fetch(
        """SELECT s.id AS supplier_id, s.contract_count, s.contracted_total AS total_value,
                  (SELECT min(c.signed_on) FROM contracts c WHERE c.supplier_id = s.id)
                      AS first_signed_on,
                  (SELECT max(c.signed_on) FROM contracts c WHERE c.supplier_id = s.id)
                      AS last_signed_on
             FROM suppliers s WHERE s.id = any($1::bigint[]) AND s.contract_count > 0""",
        list(supplier_ids),
    )
    by_id = {r["supplier_id"]: r for r in rows}
    return [by_id.get(i) for i in supplier_ids]
