"""Nested lists whose filter a parent decides (issue 23): a column whose value, for many
parents, is the same on all of their children (an agency's contracts and procurements
carry the UF of the unit that signed them, which for most agencies is always the one).

For a filter on such a column, a parent is read as if unfiltered when its children all
hold the filter's value, and not read at all when none does, instead of walking its rows
and testing each: the largest agency (16,553 contracts, all in RN) was read whole for the
0 rows of `uf: SP`, and `agencies(first: 100) { contracts(first: 5, filter: {uf: RN}) }`
read 48,811 rows for 9 (200,000 contracts). The data model does not promise the column
constant per parent (a federal agency's units sign in many UFs: 5 of the 292 agencies of
the real PNCP sample), so each parent's value is looked up, not assumed: its least
value and its greatest (NULL when it has any: the index's order read both ways) and
whether it has children, three probes of the index on (parent, column) of migration 0011,
one entry each, all parents in one statement.

A filter on an attribute of the parent's own row (an agency's contracts or procurements by
the agency's sphere, municipality or CNPJ) is decided the same way, by that row, read in
the same statement: five agencies' procurements in a sphere none of them is in read the
sphere's 386 agencies for none (1,000,000 contracts), or, tested row by row, the largest
agency's walk (54,976 rows for 42 in a sphere it is in); decided, 5 rows for none, and
those in it are read as unfiltered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cidadao_gql.data.db import Database
from cidadao_gql.data.kept_counts import kept_counts_of
from cidadao_gql.data.statement import Clause, Filters, Sql

# (table, parent column): the columns often constant per parent, each with an index on
# (parent column, column) (migration 0011).
DETERMINED = {("contracts", "agency_id"): ("uf",), ("procurements", "agency_id"): ("uf",)}
# A clause `Sql.equal` or `Sql.any_value` writes: the column and its argument's number, or
# the text it wrote in (a value of a closed set: `statement.literal`).
_EQUAL = re.compile(r"t\.(\w+) = (?:\$(\d+)|'([^']*)'|any\(\$(\d+)::\w+\[\]\))")


def nothing(sql: Sql) -> None:
    """No filter: the clauses of the parents `settle` found all matching."""


def _of_parent(clause: Clause, parent: str | None) -> tuple[str, str, int] | None:
    """For a clause on an attribute of the parent's own row (`Sql.among`, `Sql.keyed` on
    the parent's column: an agency's contracts by the agency's sphere or CNPJ), the parent's
    table, the attribute and its argument's index."""
    named = clause.among or clause.key
    return named if named is not None and clause.column == parent else None


async def settle(
    db: Database, table: str, sql: Sql, parents: Sequence[int], settled: bool = False
) -> tuple[set[int], set[int]]:
    """The parents none of whose children can match (`sql.clauses[0]` is the parent's), and
    those all of whose children match every other clause; the rest are read as filtered
    (all of them when `settled`: these are what an earlier call left)."""
    if settled:
        return set(), set()
    parent = sql.clauses[0].column
    columns = DETERMINED.get((table, parent or ""), ())
    wanted: dict[str, frozenset[str]] = {}  # each column's values (`ufIn`: several)
    held: list[str] = []  # conditions on the parent's own row, `p` its id
    attributes: list[Any] = []  # their values, from $2 ($1: the parents)
    decided = 0
    for clause in sql.clauses[1:]:
        own = _of_parent(clause, parent)
        if own is not None:  # the parent's row says, for all of its children at once
            attributes.append(sql.args[own[2]])
            # (A lookup per parent: an EXISTS PostgreSQL may hash, and read the sphere's
            # agencies whole, 640 rows for five parents and no row on 100,000 contracts.)
            held.append(f"(SELECT a.{own[1]} FROM {own[0]} a WHERE a.id = p.id)"
                        f" = ${len(attributes) + 1}")  # fmt: skip
            decided += 1
            continue
        equal = _EQUAL.fullmatch(clause.sql)
        if clause.column in columns and equal is not None:
            value = equal[3] if equal[3] is not None else sql.args[int(equal[2] or equal[4]) - 1]
            given = value if equal[4] else [value]
            if not all(isinstance(v, str) for v in given):
                continue
            values = frozenset(v.rstrip() for v in given)
            wanted[equal[1]] = wanted.get(equal[1], values) & values
            decided += 1
            if not wanted[equal[1]]:
                return set(parents), set()  # no value for one column: nothing matches
    if not (wanted or held) or not parents:
        return set(), set()
    probes = "".join(
        f", (SELECT t.{c} FROM {table} t WHERE t.{parent} = p.id ORDER BY t.{c}"
        f" LIMIT 1) AS lo_{c}, (SELECT t.{c} FROM {table} t WHERE t.{parent} = p.id"
        f" ORDER BY t.{c} DESC LIMIT 1) AS hi_{c}"
        for c in wanted
    )
    rows = await db.fetch(
        f"SELECT p.id, EXISTS (SELECT FROM {table} t WHERE t.{parent} = p.id) AS any,"
        f" {' AND '.join(held) or 'TRUE'} AS held{probes} FROM unnest($1::bigint[]) AS p(id)",
        list(parents), *attributes,
    )  # fmt: skip
    skipped, whole = set(), set()
    everything = decided == len(sql.clauses) - 1  # no clause but the decided ones
    for row in rows:
        if not row["any"] or not row["held"]:
            skipped.add(row["id"])
            continue
        constant = {c: row[f"lo_{c}"] for c in wanted if row[f"lo_{c}"] == row[f"hi_{c}"]}
        if any(v is None or v.rstrip() not in wanted[c] for c, v in constant.items()):
            skipped.add(row["id"])
        elif everything and len(constant) == len(wanted):
            whole.add(row["id"])
    return skipped, whole


async def count_children(
    db: Database, entity: Any, parent_column: str, parent_ids: Sequence[int], filters: Filters
) -> list[int]:
    sql = Sql()
    parents = sql.arg(list(parent_ids))
    sql.filter(f"t.{parent_column} = any({parents}::bigint[])")
    filters(sql)
    kept = kept_counts_of(entity.table, parent_column)
    if kept is not None and len(sql.clauses) == 1:  # unfiltered: the parents' kept counts
        text = f"SELECT id AS parent, {kept[1]} AS n FROM {kept[0]} WHERE id = any({parents}::bigint[])"
    else:
        text = (
            f"SELECT t.{parent_column} AS parent, count(*) AS n FROM {entity.table} t"
            f" WHERE {sql.where_sql()} GROUP BY 1"
        )
    rows = await db.fetch(text, *sql.args)
    counts = {r["parent"]: r["n"] for r in rows}
    return [counts.get(p, 0) for p in parent_ids]
