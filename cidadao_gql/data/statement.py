"""A statement being written: positional arguments and WHERE clauses, each clause knowing
the column it restricts (the page planner in `sql` reads that to choose a plan)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Clause:
    """One condition of a WHERE: its SQL, the column of `t` it restricts (if one), and
    whether it is an equality (which an index on (column, ordering column) serves)."""

    sql: str
    column: str | None = None
    equality: bool = False
    # For a clause whose row estimate cannot be trusted when it is low (full-text search:
    # a word outside the most common ones is estimated at 0.5 % of the table, even one that
    # no row has), the clause alone with its value as $1, to count its matches instead.
    alone: tuple[str, Any] | None = None
    # For a row named by its natural key: its table, the key column, and the index of the
    # key's argument (`sql._resolve_keys` compares with the row's id instead).
    key: tuple[str, str, int] | None = None
    # For rows pointing at any of several rows of another table (the agencies of a sphere
    # or of a town): that table, its column, and the index of the value's argument, which
    # `sql._resolve_keys` replaces with the ids it names when they are few.
    among: tuple[str, str, int] | None = None
    # For `column = any(array)`: the index of the array's argument and its element type, so
    # that a page may walk the (column, ordering) index value by value (data/spread.py).
    spread: tuple[int, str] | None = None
    # For a clause that is a join (`Sql.among`'s semi-join), the same condition as a test of
    # each row (a correlated subquery), for a walk whose order no join may change.
    tested: str | None = None


class Sql:
    """Collects positional arguments and WHERE clauses while a statement is written."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.clauses: list[Clause] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def filter(
        self,
        clause: str,
        column: str | None = None,
        equality: bool = False,
        alone: tuple[str, Any] | None = None,
        tested: str | None = None,
    ) -> None:
        self.clauses.append(Clause(clause, column, equality, alone, tested=tested))

    def where_sql(self, clauses: Sequence[Clause] | None = None, each_row: bool = False) -> str:
        """The WHERE of `clauses` (all of them by default); `each_row`: every clause a test
        of each row (`Clause.tested`), none a join."""
        chosen = self.clauses if clauses is None else clauses
        texts = [(c.tested or c.sql) if each_row else c.sql for c in chosen]
        return " AND ".join(texts) if texts else "TRUE"

    # Clauses on the filtered table, aliased `t`; each does nothing when its value is unset.

    def equal(self, column: str, value: Any, closed: bool = False) -> None:
        """`column` is `value`; a value of a closed set (a schema enum's: a state, a
        modality) written in as a literal, not passed (`literal`)."""
        if value is not None:
            given = literal(value) if closed else self.arg(value)
            self.filter(f"t.{column} = {given}", column, equality=True)

    def any_of(self, column: str, ids: Sequence[int]) -> None:
        # One id as `=`: PostgreSQL 15 walks an index on (column, ordering) in order for
        # `= $1`, not for `= any($1)`, which it reads whole and sorts.
        if len(ids) == 1:
            self.filter(f"t.{column} = {self.arg(ids[0])}::bigint", column, equality=True)
        elif ids:
            self.filter(f"t.{column} = any({self.arg(list(ids))}::bigint[])", column)

    def any_value(self, column: str, values: Sequence[Any], kind: str) -> None:
        """`column` is one of `values` (of SQL type `kind`); one value is an equality."""
        if len(values) == 1:
            self.equal(column, values[0], closed=True)
        elif values:
            arg = self.arg(list(values))
            spread = (len(self.args) - 1, kind)
            self.clauses.append(Clause(f"t.{column} = any({arg}::{kind}[])", column, spread=spread))

    def among(self, column: str, table: str, key: str, value: Any) -> None:
        """`column` points at one of the `table` rows whose `key` is `value`: a semi-join,
        which a count or an aggregate hashes, a page's walk memoizes, and whose rows the
        planner estimates from `table`'s statistics; a page names those rows when they are
        few (`spread.resolve_among`)."""
        if value is not None:
            arg = self.arg(value)
            self.clauses.append(Clause(
                f"EXISTS (SELECT FROM {table} a WHERE a.id = t.{column} AND a.{key} = {arg})",
                column, among=(table, key, len(self.args) - 1),
                tested=f"(SELECT a.{key} FROM {table} a WHERE a.id = t.{column}) = {arg}",
            ))  # fmt: skip

    def keyed(self, column: str, table: str, key: str, value: str | None) -> None:
        """`column` points at the `table` row whose natural `key` is `value`."""
        if value is not None:
            arg = self.arg(value)
            self.clauses.append(Clause(
                f"t.{column} = (SELECT id FROM {table} WHERE {key} = {arg})",
                column, equality=True, key=(table, key, len(self.args) - 1),
            ))  # fmt: skip

    def between(self, column: str, low: Any, high: Any) -> None:
        if low is not None:
            self.filter(f"t.{column} >= {self.arg(low)}", column)
        if high is not None:
            self.filter(f"t.{column} <= {self.arg(high)}", column)

    def text_search(self, column: str, query: str | None) -> None:
        """Full-text match in Portuguese (stemmed: "medicamentos" finds "medicamento"; accents
        set aside: "oleo" finds "óleo") on the column's stored vector, `{column}_search`,
        which the GIN index is built on (migration 0018: a walk that tests the word on each
        row no longer computes the row's vector)."""
        if query is not None:
            config = "'portuguese_unaccent'"
            match = f"t.{column}_search @@ websearch_to_tsquery({config}, "
            self.filter(f"{match}{self.arg(query)})", alone=(f"{match}$1)", query))

    def contains(self, column: str, text: str | None) -> None:
        """Case- and accent-insensitive substring ("lider" finds "Líder"), on the expression
        the trigram index is built on (migration 0010)."""
        if text is not None:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"'%' || unaccented({self.arg(escaped)}) || '%'"
            self.filter(f"unaccented(t.{column}) ILIKE {pattern}")


Filters = Callable[[Sql], None]


# A value of a closed set (a state, a modality, a sphere, a status) is written into the
# statement, not passed as a parameter: PostgreSQL then plans the statement once, with that
# value's own statistics, and keeps the plan, where a parameter made it plan again on every
# run (its generic plan, costed for an average value, never as cheap as the custom plan of
# a common one) or keep a plan made for an average value. A state's direct purchases by
# value, with their suppliers: 0.55 ms of PostgreSQL's CPU per run of the compiled
# statement, 0.3 ms with the state and the modality written in (issue 16). Only closed
# sets: a statement per value is one of a few dozen, not one per document a client sends.
def literal(value: Any) -> str:
    """`value` (an int, or a text of a closed set) as an SQL literal."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"  # standard_conforming_strings: on
    raise TypeError(f"no literal for {type(value).__name__}")
