"""How a filtered page is read (issue 23): the ordering's index walked, the matches read
first, a parent's rows whole or in a range, chosen from the planner's own row estimates.
`sql` writes the statements; this module only chooses."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Clause, Sql


class Ordered(Protocol):
    """What the choice reads of `sql.Ordering` (its column, the equalities its indexes serve)."""

    @property
    def column(self) -> str: ...

    @property
    def served(self) -> frozenset[str]: ...


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
    members: dict[str, int] = {}
    for scope in scopes:
        for clauses in (scope.matches, scope.walked, scope.found, scope.ranged or ()):
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


def _members(node: dict[str, Any], rows: dict[str, float]) -> None:
    """The row estimate of each member of the plan's Append, by the member's output."""
    if node.get("Parent Relationship") == "Member" and node.get("Output"):
        rows[node["Output"][0]] = float(node["Plan Rows"])
        return
    for child in node.get("Plans", ()):
        _members(child, rows)


# A page ordered by one column over a range of days of another (contracts signed in the
# last two days, largest first): neither index serves both, and on 1,000,000 contracts the
# walk along the value's index and the matches read first both read thousands of rows for
# 21 (7,138: the middle band, about √(rows × page)). An index on (day, ordering column, id)
# (migration 0014) makes each day's page a range of it: the days' pages, merged, read at
# most days × page rows and never more than the matches. Used up to MOST_DAYS days, which
# keeps the rows read within MOST_DAYS per row returned (a page not full has read only
# matches); past it the range is broad enough for the walk (on 1,000,000 contracts, 51
# days hold 28,000 contracts and the walk passes about 36 per row).
DAILY = {("contracts", "final_value"): "signed_on"}
MOST_DAYS = 50
_RANGE = re.compile(r"t\.(\w+) (>=|<=) \$(\d+)")


async def days(db: Database, table: str, sql: Sql, ordering: Ordered) -> tuple[date, date] | None:
    """The first and last day of the page's range, when it is to be read day by day: every
    clause on the day or the ordering's column, the range at most MOST_DAYS days (an open
    end taken at the table's first or last day)."""
    day = DAILY.get((table, ordering.column))
    if day is None or any(c.column not in (day, ordering.column) for c in sql.clauses):
        return None
    bounds: dict[str, date] = {}
    for clause in sql.clauses:
        found = _RANGE.fullmatch(clause.sql)
        if clause.column == day and found is not None:
            value = sql.args[int(found[3]) - 1]
            if isinstance(value, date):
                bounds[found[2]] = value
    if not bounds:
        return None
    if len(bounds) == 1:
        span = await db.fetchrow(f"SELECT min({day}) AS lo, max({day}) AS hi FROM {table}")
        if span is None or span["lo"] is None:
            return None
        bounds.setdefault(">=", span["lo"])
        bounds.setdefault("<=", span["hi"])
    low, high = bounds[">="], bounds["<="]
    return (low, high) if (high - low).days < MOST_DAYS else None
