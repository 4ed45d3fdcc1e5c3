"""The SQL behind the API: batch lookups by key, keyset pages, counts and aggregates.

Nothing here knows GraphQL. Filters arrive as plain frozen values; rows leave as asyncpg
records. A page of children for many parents is one statement (a LATERAL join over the
parent ids), so nested connections cost one round trip per level, not one per parent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from cidadao_gql.data import child_pages
from cidadao_gql.data.columns import (
    read_date,
    read_integer,
    read_key,
    read_money,
    read_timestamp,
    write_money,
)
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.statement import Clause, Filters, Sql


@dataclass(frozen=True, slots=True)
class Ordering:
    """A keyset ordering: a non-null column, a direction, and how to read cursor values
    (`parse`: strictly, a ValueError for anything `dump` would not have written)."""

    name: str
    column: str
    descending: bool
    parse: Callable[[str], Any]
    # Columns an equality on which an index (column, this column, id) serves with it.
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
AGENCIES = Entity(
    "agencies",
    ("id", "cnpj", "name", "sphere", "power", "uf", "municipality", "ibge_code"),
    _orderings(("ID", "id", read_key, "uf sphere")),
)
SUPPLIERS = Entity(
    "suppliers", ("id", "document", "kind", "name", "size", "legal_nature", "registered_on"), BY_ID
)
PROCUREMENTS = Entity(
    "procurements",
    ("id", "pncp_control_number", "agency_id", "year", "sequence", "number", "process",
     "modality", "status", "legal_basis", "object", "estimated_total", "homologated_total",
     "srp", "uf", "municipality", "published_at", "opening_at", "closing_at"),
    _orderings(("PUBLISHED_AT", "published_at", read_timestamp, "agency_id uf modality status year"),
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
_CONTRACT_PARENTS = "agency_id supplier_id uf modality"
CONTRACTS = Entity(
    "contracts",
    ("id", "agency_id", "supplier_id", "procurement_id", "number", "object", "modality", "uf",
     "initial_value", "final_value", "signed_on", "starts_on", "ends_on"),
    _orderings(("SIGNED_ON", "signed_on", read_date, _CONTRACT_PARENTS + " procurement_id"),
               ("VALUE", "final_value", read_money, _CONTRACT_PARENTS), ("ID", "id", read_key)),
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
    if page.after is not None:
        value, last_id = page.after
        op = "<" if o.descending else ">"
        if o.column == "id":
            sql.filter(f"{alias}.id {op} {sql.arg(last_id)}", "id")
        else:
            sql.filter(
                f"({alias}.{o.column}, {alias}.id) {op} ({sql.arg(value)}, {sql.arg(last_id)})",
                o.column,
            )
    direction = "DESC" if o.descending else "ASC"
    tail = f"{alias}.id {direction}"
    return "ORDER BY " + (tail if o.column == "id" else f"{alias}.{o.column} {direction}, {tail}")


# Selective filters and orderings (issue 23). A page ordered by one column and filtered on
# another has two plans: walk the ordering's index and test each row until the page is full
# (rows read: about walked/matches × page, where `walked` is what the index holds under the
# clauses it serves), or read the matches through the filter's own index and sort them
# (rows read: the matches). PostgreSQL costs the walk as if the matches were spread evenly
# along the index, and takes it too often: 56,057 rows read for the 21 of "contracts above
# R$ 4 million, newest first", when the 416 matches read and sorted take 1.9 ms instead of
# 203 ms. So when a clause is one the ordering's index cannot serve, the planner's own row
# estimates (one EXPLAIN without ANALYZE: planning only, a fraction of a millisecond) pick:
# the matches first when matches² ≤ walked × page, which keeps the rows read under
# √(walked × page), and otherwise the plain statement, whose walk then reads at most as
# many. The matches are read in a fence (a MATERIALIZED CTE, or OFFSET 0 in a LATERAL
# subquery) so that the planner cannot turn the sort back into the walk. Both statements
# give the same rows in the same order (the ordering ends with the id): only the cost
# differs. Measured by benchmarks/filters.py; tests/test_filter_plans.py holds each filter
# and ordering to it.


# The share of rows PostgreSQL estimates for a full-text match it has no statistics for
# (DEFAULT_TS_MATCH_SEL): at or below it, an estimate says nothing.
UNKNOWN_WORD = 0.005


def _served(sql: Sql, ordering: Ordering, parent: str | None = None) -> tuple[Clause, ...] | None:
    """The clauses an ordered walk of the page serves from its index (ranges on the
    ordering's column and the equality its index leads with), or None when it serves all
    of them: then the walk reads no row it does not return."""
    lead = parent
    served = []
    for clause in sql.clauses:
        if clause.column == ordering.column:
            served.append(clause)
        elif clause.column is None:
            continue
        elif clause.column == lead or (
            lead is None and clause.equality and clause.column in ordering.served
        ):
            lead = clause.column
            served.append(clause)
    return None if len(served) == len(sql.clauses) else tuple(served)


keyset = _keyset  # for a caller writing pages into a statement of its own (compiled.tree)


def unserved(sql: Sql, ordering: Ordering, parent: str | None = None) -> bool:
    """Whether a page's walk of its ordering's index reads rows it does not return."""
    return _served(sql, ordering, parent) is not None


@dataclass(frozen=True, slots=True)
class Scope:
    """One page's clauses for the choice: all of them (its matches), those its walk serves
    from the ordering's index, and those a matches-first read finds through their own
    index (all of them for a root list; a parent's page tests the parent on each row)."""

    matches: Sequence[Clause]
    walked: Sequence[Clause]
    found: Sequence[Clause]


# How a page is read: the ordering's index walked; the matches first; a parent's rows whole.
Read = Literal["walk", "first", "whole"]


async def _choose(
    db: Database, table: str, sql: Sql, scopes: Sequence[Scope], page: int, parents: bool
) -> list[Read]:
    """For each scope (a root list's page, or one parent's), how to read it, by the
    planner's row estimates (one EXPLAIN for all of them): the walk reads about walked ×
    page / matches (at most walked), the matches first what their own index finds, a
    parent whole its rows. A parent is read whole rather than walked when the walk would
    pass half its rows anyway: left to walk a small agency's 186 contracts for a broad
    word, the planner ANDed them with the word's 8,461 entries in the search index."""
    members: dict[str, int] = {}
    for scope in scopes:
        for clauses in (scope.matches, scope.walked, scope.found):
            members.setdefault(sql.where_sql(clauses), len(members))
    # Each member under a Limit, which no parallel plan splits (a Parallel Append reorders
    # its members and reports a partial scan's rows per worker), and named by its output.
    text = "EXPLAIN (FORMAT JSON, VERBOSE) " + " UNION ALL ".join(
        f"(SELECT {i} FROM {table} t WHERE {where} LIMIT {10**15})" for where, i in members.items()
    )
    rows: dict[str, float] = {}
    _members(json.loads(await db.fetchval(text, *sql.args))[0]["Plan"], rows)
    if len(rows) != len(members):  # not the scans we asked for: the walk
        return ["walk"] * len(scopes)

    def estimate(clauses: Sequence[Clause]) -> float:
        return rows[str(members[sql.where_sql(clauses)])]

    chosen: list[Read] = []
    doubtful, walks, found = [], 0.0, 0.0
    for i, scope in enumerate(scopes):
        matches, walked, found = (estimate(c) for c in (scope.matches, scope.walked, scope.found))
        walk = min(walked, walked * page / max(matches, 1.0))
        if found * max(matches, 1.0) <= walked * page or found < page:
            chosen.append("first")
            continue
        chosen.append("whole" if parents and walked <= 2 * walk else "walk")
        walks += walk
        if matches <= UNKNOWN_WORD * walked:
            doubtful.append((i, int((walked * page) ** 0.5) + 1))
    if parents and found < walks:  # the parents' matches, read once, are fewer than their
        return ["first"] * len(scopes)  # walks (a word in 100 agencies: 82,873 rows for 378)
    untrusted = next((c.alone for c in sql.clauses if c.alone is not None), None)
    if untrusted is None or not doubtful:
        return chosen
    # An estimate that says "walk" but may only mean "a word I do not know": count the
    # clause's matches through its own index, up to the most that reading them first may
    # read; one count for all the scopes in doubt, whose matches are read first together
    # (once: `_per_parent`) when fewer than their bounds summed (a rare word in a hundred
    # agencies' contracts: 82,873 rows walked for 378, each agency's bound unmet alone).
    most = sum(most for _, most in doubtful)
    count: int = await db.fetchval(
        f"SELECT count(*) FROM (SELECT FROM {table} t WHERE {untrusted[0]} LIMIT {most}) m",
        untrusted[1],
    )
    for i, _ in doubtful:
        chosen[i] = "first" if count < most else chosen[i]
    return chosen


def _members(node: dict[str, Any], rows: dict[str, float]) -> None:
    """The row estimate of each member of the plan's Append, by the member's output."""
    if node.get("Parent Relationship") == "Member" and node.get("Output"):
        rows[node["Output"][0]] = float(node["Plan Rows"])
        return
    for child in node.get("Plans", ()):
        _members(child, rows)


async def _resolve_keys(db: Database, sql: Sql) -> None:
    """Clauses naming a row by its natural key (an agency's CNPJ) compare with its id
    instead, looked up first: a subquery's value is unknown when the statement is planned,
    so the planner took the largest agency (10,070 contracts) for an average one (500)."""
    for i, clause in enumerate(sql.clauses):
        if clause.key is not None:
            table, key, arg = clause.key
            found = await db.fetchval(f"SELECT id FROM {table} WHERE {key} = $1", sql.args[arg])
            sql.args[arg] = found  # None: `= NULL`, no row, as the subquery's NULL was
            sql.clauses[i] = Clause(f"t.{clause.column} = ${arg + 1}::bigint",
                                    clause.column, clause.equality)  # fmt: skip


async def fetch_page(
    db: Database, entity: Entity, filters: Filters, page: PageRequest
) -> list[Record]:
    """Up to `first + 1` rows after the cursor; the extra row only says there is a next page."""
    sql = Sql()
    filters(sql)
    order = _keyset(sql, "t", page)
    served = _served(sql, page.ordering)
    if served is not None:
        await _resolve_keys(db, sql)
        served = _served(sql, page.ordering)
    columns = entity.select_list("t", page.columns)
    source = f"SELECT {columns} FROM {entity.table} t WHERE {sql.where_sql()}"
    if served is not None:
        scope = Scope(sql.clauses, served, sql.clauses)
        (read,) = await _choose(db, entity.table, sql, [scope], page.first + 1, parents=False)
        if read == "first":
            source = f"WITH matches AS MATERIALIZED ({source}) SELECT * FROM matches t"
    return await db.fetch(f"{source} {order} LIMIT {sql.arg(page.first + 1)}", *sql.args)


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
# read first, as one EXPLAIN of them all says (`_choose`); the matches first are read
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


async def _per_parent(
    db: Database, entity: Entity, sql: Sql, parents: list[int], page: PageRequest, order: str
) -> str:
    """The UNION ALL of the parents' pages, each read as `_choose` says (`sql.clauses[0]`
    is the parent's)."""
    column = sql.clauses[0].column
    await _resolve_keys(db, sql)
    served = _served(sql, page.ordering, column)
    rest, walk = sql.clauses[1:], (served or sql.clauses)[1:]
    scopes = [
        Scope((own, *rest), (own, *walk), rest)
        for own in (Clause(f"t.{column} = {p}", column, equality=True) for p in parents)
    ]
    reads: list[Read] = ["walk"] * len(parents)  # all served: a walk reads what it returns
    if served is not None:
        reads = await _choose(db, entity.table, sql, scopes, page.first + 1, parents=True)
    columns = entity.select_list("t", page.columns)
    limit = sql.arg(page.first + 1)
    branches = []
    for p, scope, read in zip(parents, scopes, reads, strict=True):
        source, where = f"{entity.table} t", scope.matches
        if read == "whole":  # the parent's rows in a fence (OFFSET 0), tested and sorted
            inner = f"SELECT t.* FROM {source} WHERE {sql.where_sql(scope.walked)} OFFSET 0"
            source, where = f"({inner}) t", [c for c in scope.matches if c not in scope.walked]
        if read != "first":
            branches.append(f"(SELECT {p}::bigint AS _parent, {columns} FROM {source}"
                            f" WHERE {sql.where_sql(where)} {order} LIMIT {limit})")  # fmt: skip
    if "first" in reads:
        # The matches of the parents that read them first, once for all of them, through
        # the filter's own index (`+ 0`: not the parents', which would read a parent whole),
        # in a fence (OFFSET 0) so the sort stays a sort; numbered within each parent.
        ids = ",".join(str(p) for p, read in zip(parents, reads, strict=True) if read == "first")
        matched = sql.where_sql((*rest, Clause(f"t.{column} + 0 = any('{{{ids}}}')")))
        branches.append(f"""(SELECT t._parent, {columns} FROM (
            SELECT t.*, row_number() OVER (PARTITION BY t._parent {order}) AS _rank FROM (
                SELECT t.{column} AS _parent, t.* FROM {entity.table} t
                 WHERE {matched} OFFSET 0) t) t
            WHERE t._rank <= {limit} ORDER BY t._parent, {order.removeprefix("ORDER BY ")})""")
    return "\nUNION ALL ".join(branches)


async def count_rows(db: Database, entity: Entity, filters: Filters) -> int:
    sql = Sql()
    filters(sql)
    count: int = await db.fetchval(
        f"SELECT count(*) FROM {entity.table} t WHERE {sql.where_sql()}", *sql.args
    )
    return count


async def fetch_supplier_totals(db: Database, supplier_ids: Sequence[int]) -> list[Record | None]:
    """Contract count, total final value and first and last signing day per supplier."""
    rows = await db.fetch(
        """SELECT supplier_id, count(*) AS contract_count, sum(final_value) AS total_value,
                  min(signed_on) AS first_signed_on, max(signed_on) AS last_signed_on
             FROM contracts WHERE supplier_id = any($1::bigint[]) GROUP BY 1""",
        list(supplier_ids),
    )
    by_id = {r["supplier_id"]: r for r in rows}
    return [by_id.get(i) for i in supplier_ids]


@dataclass(frozen=True, slots=True)
class Grouping:
    """How spending is grouped: the key (of a contract `t`), the label (of a group `g`),
    the join that reads the label, and whether the largest totals come first."""

    key: str
    label: str = "g.key"
    join: str = ""
    by_total: bool = True


SPENDING_GROUPS = {
    "AGENCY": Grouping("t.agency_id", "a.name", "JOIN agencies a ON a.id = g.key"),
    "SUPPLIER": Grouping("t.supplier_id", "s.name", "JOIN suppliers s ON s.id = g.key"),
    "MONTH": Grouping("to_char(t.signed_on, 'YYYY-MM')", by_total=False),
    "MODALITY": Grouping("t.modality::text"),
    "UF": Grouping("coalesce(t.uf, '??')"),
}


async def fetch_spending(db: Database, group: str, filters: Filters, first: int) -> list[Record]:
    """Count and total final value of contracts per group: largest total first, months in
    calendar order. The page of groups is joined to its labels after grouping: joined
    before, every contract looked its supplier up (5,100 rows read to aggregate the 50
    contracts above a selective value, on 100,000 contracts)."""
    g = SPENDING_GROUPS[group]
    sql = Sql()
    filters(sql)
    inner, outer = (f"sum(t.final_value) DESC, ({g.key})::text", "g.total DESC, g.key::text")
    if not g.by_total:
        inner, outer = "1", "g.key"
    return await db.fetch(
        f"""SELECT g.key::text AS key, {g.label} AS label, g.contract_count, g.total FROM (
                SELECT {g.key} AS key, count(*) AS contract_count, sum(t.final_value) AS total
                  FROM contracts t WHERE {sql.where_sql()}
                 GROUP BY 1 ORDER BY {inner} LIMIT {sql.arg(first)}) g {g.join}
             ORDER BY {outer}""",
        *sql.args,
    )
