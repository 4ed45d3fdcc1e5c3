"""How a filtered page is read (issue 23): the ordering's index walked, the matches read
first, a parent's rows whole or in a range, chosen from the planner's own row estimates.
`sql` writes the statements; this module only chooses."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol
from weakref import WeakKeyDictionary

from cidadao_gql.data.cache.memory import Entry, MemoryTier
from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Clause, Sql


class Ordered(Protocol):
    """What the choice reads of `sql.Ordering`: its column, direction and served equalities."""

    @property
    def column(self) -> str: ...

    @property
    def served(self) -> frozenset[str]: ...

    @property
    def descending(self) -> bool: ...


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


def served(sql: Sql, ordering: Ordered, parent: str | None = None) -> tuple[Clause, ...] | None:
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
        elif clause.column == lead:
            served.append(clause)
        elif clause.equality and (pair := f"{lead}+{clause.column}" if lead else clause.column) in (
            ordering.served
        ):
            lead = pair  # the index's leading column, or its leading pair
            served.append(clause)
    return None if len(served) == len(sql.clauses) else tuple(served)


@dataclass(frozen=True, slots=True)
class Scope:
    """One page's clauses for the choice: all of them (its matches), those its walk serves
    from the ordering's index, and those a matches-first read finds through their own
    index (all of them for a root list; a parent's page tests the parent on each row)."""

    matches: Sequence[Clause]
    walked: Sequence[Clause]
    found: Sequence[Clause]
    # A parent's rows in the range of a column its other index orders (agency, signed_on):
    # its matches of that range, read through that index (None: no such range).
    ranged: Sequence[Clause] | None = None


# How a page is read: the ordering's index walked; the matches first; a parent's rows whole;
# a parent's rows in a range its other index serves.
Read = Literal["walk", "first", "whole", "ranged"]


async def choose(
    db: Database, table: str, sql: Sql, scopes: Sequence[Scope], page: int, parents: bool
) -> list[Read]:
    """For each scope (a root list's page, or one parent's), how to read it, by the
    planner's row estimates (one EXPLAIN for all of them): the walk reads about walked ×
    page / matches (at most walked), the matches first what their own index finds, a
    parent whole its rows. A parent is read whole rather than walked when the walk would
    pass half its rows anyway: left to walk a small agency's 186 contracts for a broad
    word, the planner ANDed them with the word's 8,461 entries in the search index."""
    wheres = {
        sql.where_sql(clauses): None
        for scope in scopes
        for clauses in (scope.matches, scope.walked, scope.found, scope.ranged or ())
    }
    rows = await estimates(db, table, list(wheres), sql.args)
    if rows is None:  # not the scans we asked for: the walk
        return ["walk"] * len(scopes)

    def estimate(clauses: Sequence[Clause]) -> float:
        return rows[sql.where_sql(clauses)]

    chosen: list[Read] = []
    doubtful, walks, found = [], 0.0, 0.0
    for i, scope in enumerate(scopes):
        matches, walked, found = (estimate(c) for c in (scope.matches, scope.walked, scope.found))
        walk = min(walked, walked * page / max(matches, 1.0))
        ranged = estimate(scope.ranged) if scope.ranged else walked
        if ranged < walk and ranged < found:
            # A parent's few rows in a date range, sorted, rather than its walk or all the
            # parents' matches (a two-day range across the table: 7,138 rows read for 26).
            chosen.append("ranged")
            walks += ranged
            continue
        if found * max(matches, 1.0) <= walked * page or found < page:
            chosen.append("first")
            continue
        chosen.append("whole" if parents and walked <= 2 * walk else "walk")
        walks += walk
        # (The estimate of an unknown word is exactly the default share, give or take
        # rounding: 272 of the largest agency's 54,370 contracts.)
        if matches <= 1.01 * UNKNOWN_WORD * walked:
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


# The estimates are kept (per Database: one per process), by table, clause text and the
# values its parameters hold, an amount of money by its bucket (a step of STEP, 5 %) and
# any other value as it is, for ESTIMATE_SECONDS: the EXPLAIN of a root page's four row counts took
# 0.6 ms of backend CPU on 1,000,000 contracts, more than the page's own statement
# (0.37 ms), and the mixed workload asked it on every request. An estimate changes when
# PostgreSQL analyzes the table, and one from an earlier analysis, or for a value of the
# same bucket, changes what a page costs, never what it answers: every read the choice
# makes gives the same rows in the same order. Only the estimates not kept are asked, in
# one EXPLAIN.
STEP = math.log(1.05)
ESTIMATE_SECONDS = 300.0
ESTIMATES_KEPT = 10_000  # a few hundred bytes each
_KEPT: WeakKeyDictionary[Database, MemoryTier] = WeakKeyDictionary()
_PARAMETER = re.compile(r"\$(\d+)")


async def estimates(
    db: Database, table: str, wheres: Sequence[str], args: Sequence[Any]
) -> dict[str, float] | None:
    """The planner's row estimate for each WHERE clause of `table` (with `args` for its
    parameters), or None when the plan does not show them."""
    now = time.monotonic()
    kept_estimates = _KEPT.setdefault(db, MemoryTier(ESTIMATES_KEPT))
    found: dict[str, float] = {}
    asked: list[tuple[str, tuple[Any, ...]]] = []
    for where in wheres:
        used = sorted({int(n) for n in _PARAMETER.findall(where)})
        key = (table, where, tuple(_bucket(args[n - 1]) for n in used))
        kept = kept_estimates.get(key, now)
        if kept is not None:
            found[where] = kept.value
        else:
            asked.append((where, key))
    if not asked:
        return found
    # The parameters of the clauses asked, numbered anew (PostgreSQL refuses a parameter
    # that a statement does not use). Each clause under a Limit, which no parallel plan
    # splits (a Parallel Append reorders its members and reports a partial scan's rows per
    # worker), and named by its output.
    numbers: dict[int, int] = {}

    def renumbered(where: str) -> str:
        return _PARAMETER.sub(lambda n: f"${numbers.setdefault(int(n[1]), len(numbers) + 1)}",
                              where)  # fmt: skip

    text = "EXPLAIN (FORMAT JSON, VERBOSE) " + " UNION ALL ".join(
        f"(SELECT {i} FROM {table} t WHERE {renumbered(where)} LIMIT {10**15})"
        for i, (where, _) in enumerate(asked)
    )
    passed = [args[n - 1] for n in sorted(numbers, key=numbers.__getitem__)]
    plan = json.loads(await db.fetchval(text, *passed))[0]["Plan"]
    rows: dict[str, float] = {"0": float(plan["Plan Rows"])} if len(asked) == 1 else {}
    _members(plan, rows)  # (one clause alone is no member of an Append: its Limit's rows)
    if len(rows) != len(asked):
        return None
    for i, (where, key) in enumerate(asked):
        found[where] = rows[str(i)]
        kept_estimates.set(key, Entry(rows[str(i)], now + ESTIMATE_SECONDS, 0.0))
    return found


def _bucket(value: Any) -> Any:
    """What an estimate is kept by: an amount of money by its bucket, lists as tuples."""
    if isinstance(value, Decimal) and value.is_finite() and value > 0:
        return ("money", math.floor(math.log(value) / STEP))
    return tuple(value) if isinstance(value, list) else value


def _members(node: dict[str, Any], rows: dict[str, float]) -> None:
    """The row estimate of each member of the plan's Append, by the member's output."""
    if node.get("Parent Relationship") == "Member" and node.get("Output"):
        rows[node["Output"][0]] = float(node["Plan Rows"])
        return
    for child in node.get("Plans", ()):
        _members(child, rows)


# Contracts by a day column and a value column, with an index on (day, value, id)
# (migration 0014), where neither single index serves the page: the middle band, where the
# walk along the ordering's index and the matches read first both read about
# √(rows × page) (on 1,000,000 contracts: a two-day range by value, 7,138 rows for 21;
# above R$ 2 million newest first, 3,930 rows for 21, 15 ms). Each day is a range of that
# index, so the page is read a day at a time:
# - ordered by value over at most MOST_DAYS days: each day's page, merged (at most days ×
#   page rows, never more than the matches; past MOST_DAYS days the range is broad enough
#   for the walk: 51 days hold 28,000 of 1,000,000 contracts, the walk passes 36 a row);
# - ordered by day with a value range: day after day in the ordering's direction until the
#   page is full, each day's matches read from the index and sorted by id (3,930 → 21 rows,
#   0.6 ms), when the days probed (days × page / matches, from the planner's estimate of
#   the matches) are at most MOST_PROBES; fewer matches are read first, as before.
DAILY = {"contracts": ("signed_on", "final_value")}
MOST_DAYS = 50
MOST_PROBES = 200
_RANGE = re.compile(r"t\.(\w+) (>=|<=) \$(\d+)")
_AFTER = re.compile(r"\(t\.(\w+), t\.id\) ([<>]) \(\$(\d+), \$\d+\)")  # sql._keyset


@dataclass(frozen=True, slots=True)
class Days:
    first: date  # in the order the days are read
    last: date
    step: int  # +1 or -1 day
    merged: bool  # each day's page merged (by value), or days read until the page is full


async def days(db: Database, table: str, sql: Sql, ordering: Ordered, page: int) -> Days | None:
    """How the page is read day by day, or None (the other reads)."""
    day, value = DAILY.get(table, ("", ""))
    if ordering.column not in (day, value) or ordering.column == "":
        return None
    if any(c.column not in (day, value) for c in sql.clauses):
        return None
    bounds: dict[str, date] = {}
    for clause in sql.clauses:
        found = _RANGE.fullmatch(clause.sql) or _AFTER.fullmatch(clause.sql)
        if clause.column == day and found is not None:
            bound = sql.args[int(found[3]) - 1]
            if isinstance(bound, date):  # the tighter of a range's end and the cursor's day
                edge = {"<": "<=", ">": ">="}.get(found[2], found[2])
                tighter = min if edge == "<=" else max
                bounds[edge] = tighter(bounds.get(edge, bound), bound)
    by_day = ordering.column == day
    if by_day and not any(c.column == value for c in sql.clauses):
        return None  # no value range: the day's index serves the page
    if not by_day and not bounds:
        return None
    if len(bounds) < 2:
        span = await db.fetchrow(f"SELECT min({day}) AS lo, max({day}) AS hi FROM {table}")
        if span is None or span["lo"] is None:
            return None
        bounds.setdefault(">=", span["lo"])
        bounds.setdefault("<=", span["hi"])
    low, high = bounds[">="], bounds["<="]
    count = (high - low).days + 1
    if count < 1:
        return None
    if not by_day:
        return Days(low, high, 1, True) if count <= MOST_DAYS else None
    where = sql.where_sql()
    rows = await estimates(db, table, [where], sql.args)
    if rows is None:
        return None
    matches = rows[where]
    if count * page > MOST_PROBES * max(matches, 1.0):
        return None
    return Days(high, low, -1, False) if ordering.descending else Days(low, high, 1, False)
