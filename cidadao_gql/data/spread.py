"""Lists filtered on several values of one column (`ufIn: [RR, AP]`, the agencies of a
town): each value walked apart along the index on (column, ordering), then merged.

PostgreSQL 15 reads `uf = any('{RR,AP}')` through an index on (uf, signed_on, id) as a set,
not in order: it finds every match and sorts them (or walks the ordering's own index and
tests each row). For two small states that is every one of their contracts for a page of
20; walked value by value, each value's walk reads at most a page, so the page reads at
most a page per value (MAX_WALKS values, at most). Also here: a filter naming a few rows of
another table (`ibgeCode`, a sphere of few agencies) resolved to their ids first, as a
natural key is, so that the planner sees the ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cidadao_gql.data import page_plans
from cidadao_gql.data.db import Database
from cidadao_gql.data.statement import Clause, Sql

# Past this many values, a walk per value reads more than the matches-first read would for
# all but the rarest values: `sql._choose` decides instead.
MAX_WALKS = 30


# A filter naming the rows of another table (`sphere`: the agencies of a sphere) names their
# ids (one is an equality; several, walked value by value when at most MAX_WALKS) when they
# are fewer than the rows a page's walk passes, or MAX_WALKS, by the planner's estimates:
# `table`'s rows × page / the filter's matches, and the other table's rows under the key.
# Otherwise it stays the semi-join `Sql.among` wrote, which PostgreSQL runs beside the walk
# as probes of the agencies' primary key, one per row at most (memoized in a parent's page;
# a root page's walk, whose order no join may change, tests each row: `Clause.tested`).
# Named, a broad sphere's 1,408 agencies were read on every page: 1,434 rows for 21
# (1,000,000 contracts, municipal, newest first), tested 52; the state sphere's procurements
# newest first (386 agencies, a walk of some 130), 519 rows for 21, tested 133. On 100,000
# contracts (200 agencies) the state sphere's 39 are fewer than its walk, and named.


async def resolve_among(db: Database, sql: Sql, clause: Clause, table: str, page: int) -> Clause:
    """The clause `Sql.among` wrote, comparing with the ids it names instead (one: an
    equality; several: a set, which a page may walk value by value), or as it was when
    they are more than a page of `table` walks past."""
    assert clause.among is not None and clause.column is not None
    other, key, arg = clause.among
    named = await page_plans.estimates(db, other, [f"t.{key} = $1"], [sql.args[arg]])
    walked = await page_plans.estimates(db, table, [clause.sql, "TRUE"], sql.args)
    if named is not None and walked is not None:
        walk = walked["TRUE"] * page / max(walked[clause.sql], 1.0)
        if named[f"t.{key} = $1"] > max(MAX_WALKS, walk):
            return clause
    ids: list[int] = await db.fetchval(
        f"SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM {other} WHERE {key} = $1",
        sql.args[arg],
    )
    column = clause.column
    if len(ids) == 1:
        sql.args[arg] = ids[0]
        return Clause(f"t.{column} = ${arg + 1}::bigint", column, equality=True)
    sql.args[arg] = ids
    return Clause(f"t.{column} = any(${arg + 1}::bigint[])", column, spread=(arg, "bigint"))


@dataclass(frozen=True, slots=True)
class ValueWalks:
    """A page as the union of one walk per value of `clause`'s array."""

    sql: Sql
    clause: Clause
    where: str  # every clause, `clause` as an equality with the walk's value `v.value`

    def statement(self, table: str, columns: str, order: str, limit: int) -> str:
        assert self.clause.spread is not None
        arg, kind = self.clause.spread
        return f"""SELECT t.* FROM unnest(${arg + 1}::{kind}[]) AS v(value) CROSS JOIN LATERAL (
            SELECT {columns} FROM {table} t WHERE {self.where} {order} LIMIT {limit}) t
            {order} LIMIT {limit}"""


def value_walks(
    sql: Sql, columns: frozenset[str], served: Callable[[Sql], object]
) -> ValueWalks | None:
    """The walks per value of a set clause on one of `columns` (those whose equality the
    ordering's index serves), when each walk would then serve every clause (`served`
    answers None) and the set is small."""
    for i, clause in enumerate(sql.clauses):
        if clause.spread is None or clause.column not in columns:
            continue
        if len(sql.args[clause.spread[0]]) > MAX_WALKS:
            continue
        each = Clause(f"t.{clause.column} = v.value", clause.column, equality=True)
        trial = Sql()
        trial.args, trial.clauses = sql.args, [*sql.clauses[:i], each, *sql.clauses[i + 1 :]]
        if served(trial) is None:
            return ValueWalks(sql, clause, trial.where_sql())
    return None
