"""Counts of a parent's children that the database keeps (migration 0017): a count whose only
condition is "the parent is this one" reads the parent's row instead of its children
(`totalCount` of the largest agency's 54,397 contracts: 2.7 ms of PostgreSQL's CPU counted,
0.3 ms read; issue 16). Any other condition, or none, still counts."""

from __future__ import annotations

import re
from collections.abc import Sequence

from cidadao_gql.data.statement import Clause

# (child table, its parent column) → (parent table, the parent's count column)
KEPT: dict[tuple[str, str], tuple[str, str]] = {
    ("contracts", "agency_id"): ("agencies", "contract_count"),
    ("contracts", "supplier_id"): ("suppliers", "contract_count"),
    ("contracts", "procurement_id"): ("procurements", "contract_count"),
    ("procurements", "agency_id"): ("agencies", "procurement_count"),
    ("items", "procurement_id"): ("procurements", "item_count"),
    ("awards", "item_id"): ("items", "award_count"),
    ("awards", "supplier_id"): ("suppliers", "award_count"),
}
# What a clause's parent may be: an argument, or a column of the statement (a parent row's
# id in a correlated subquery); a natural key's lookup is known by its Clause.key.
_PARENT = re.compile(r"\$\d+(::bigint)?|\w+\.\w+")


def kept_count(table: str, clauses: Sequence[Clause]) -> str | None:
    """An expression of the count of `table`'s rows under `clauses`, read from the kept
    count, or None when it must be counted."""
    if len(clauses) != 1:
        return None
    (clause,) = clauses
    found = KEPT.get((table, clause.column or ""))
    prefix = f"t.{clause.column} = "
    if found is None or not clause.equality or not clause.sql.startswith(prefix):
        return None
    parent = clause.sql.removeprefix(prefix)
    if clause.key is None and _PARENT.fullmatch(parent) is None:
        return None
    table, column = found
    return f"coalesce((SELECT {column} FROM {table} WHERE id = {parent}), 0)"


def kept_counts_of(table: str, parent_column: str) -> tuple[str, str] | None:
    """The parent table and column whose rows keep how many `table` rows point at them by
    `parent_column`, or None."""
    return KEPT.get((table, parent_column))
