"""Root lists answered by one statement whose JSON PostgreSQL writes.

Run level by level, a four-level chain of nested connections cost five statements, each a
round trip whose event-loop and socket work was most of our process' CPU (py-spy, cProfile:
`benchmarks/shape_profile.py`), and each row was decoded into a record, read field by field
and encoded again. PostGraphile v5 sends one statement. Here a root connection whose
subtree holds only columns, global IDs, `__typename`, relations by id or by another unique
column (`relay.batched`: a sanction's supplier, by its document) and
connections of children (`relay.paged`) becomes one subquery: an object per row (text
joined with `||`, json_text), a `string_agg` per page (ordered and limited per parent; rows
numbered by a window and `first + 1` read only for `hasNextPage` and the page's cursors;
a page backwards, `last`/`before`, the forward page of the reverse ordering shown the other
way round), a relation joined by that column to the page's rows, a page of children a lateral subquery per shown
row, `totalCount` a correlated count (a parent's children unfiltered: the count kept on its
row, data.kept_counts), and global IDs and cursors encoded in SQL exactly as
`relay.encode_id` and `relay.encode_cursor` write them. All such root fields of an
operation go in one statement, prepared once per text by asyncpg's statement cache.

The JSON is written as text exactly as orjson writes it (compact, keys in response order,
`to_json` for text that may need escaping: its escapes are orjson's), so the bytes go into
the response as they are (`orjson.Fragment`), never decoded nor encoded again:
json_build_object's JSON (`{"a" : 1}`) had to be, 11 % of our process under load (py-spy).
Rows as text rather than records for `row_to_json` (which looks every column's type up
again on every row) and no window where nothing needs it: PostgreSQL's CPU per statement,
interleaved on one connection, 232 → 185 µs (50 suppliers by name), 564 → 372 µs (5
agencies × 10 contracts), 2,215 → 1,730 µs (the tuned page). Beside each root field's
JSON the statement counts its actual cost, as costs.CostAnalysis weighs a response (each
non-null field's weight, each list's rows by `rows_cost`), from the weights the plan's
Price gives: every page's subquery returns its JSON and its cost, which is why pages of
children are lateral joins rather than scalar subqueries.

A page whose filter its ordering's index does not serve is read as the data layer reads it:
a root page's read chosen before the statement is written, a page of children's chosen per
parent inside it (both in `sources`). What cannot be written so falls back to the levels
(`execute`), per root field: a field with a resolver of its own, a scalar without an SQL
twin (Float: PostgreSQL writes `1e+20` and `1`, orjson `1e20` and `1.0`), and relations
when the field cache is on (rows by id keep going through the cache tiers). Bad
arguments (a cursor, a page size) are raised while the statement is written, and the
ordinary path answers them. `cidadao_ai_compiled_fields_total` counts each root field by
how it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from cidadao_gql.data.kept_counts import kept_count
from cidadao_gql.data.loaders import joined_by, listed_by
from cidadao_gql.data.page_plans import served
from cidadao_gql.data.sql import keyset
from cidadao_gql.data.statement import Sql
from cidadao_gql.errors import Unplannable
from cidadao_gql.execution.compiled.json_text import (
    DUMPS,
    cursor_sql,
    json_object,
    json_string,
    leaf_json,
    leaf_sql,
    sql_literal,
)
from cidadao_gql.execution.compiled.pages import request_of
from cidadao_gql.execution.compiled.selection import (
    FieldPlan,
    named_type,
    read_column,
    read_node_ids,
)
from cidadao_gql.execution.compiled.sources import embedded, per_parent
from cidadao_gql.schema.cost_tables import ROWS_PER_POINT


def why_not_one(plan: FieldPlan) -> str | None:
    """Why a root field's subtree cannot be one expression, as far as the plan shows, or
    None (its arguments may still say no at run time)."""
    try:
        _check_connection(plan)
    except Unplannable as reason:
        return str(reason)
    return None


def _check_connection(plan: FieldPlan) -> None:
    if plan.page is None or plan.children is None:
        raise Unplannable("not a connection of rows")
    for field in plan.children:
        if field.definition is None or field.name == "totalCount":
            continue
        if field.name == "pageInfo":
            _check_known(field, {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"})
        elif field.name == "edges":
            _check_known(field, {"node", "cursor"})
            assert field.children is not None
            for edge in field.children:
                if edge.name == "node":
                    _check_row(edge)
        elif field.name == "nodes":
            _check_row(field)
        else:
            raise Unplannable(f"connection field {field.name}")


def _check_known(plan: FieldPlan, names: set[str]) -> None:
    if plan.children is None or plan.by_runtime_type:
        raise Unplannable(plan.name)
    for field in plan.children:
        if field.definition is not None and field.name not in names:
            raise Unplannable(field.name)


def _check_row(plan: FieldPlan) -> None:
    children = plan.children
    if children is None or children.fill is None:
        raise Unplannable("not a selection on rows")
    for field in children:
        kind = getattr(field.read, "func", None)
        if field.definition is None or kind is read_node_ids:
            continue
        if kind is read_column:
            if leaf_sql(field, "{c}") is None:
                raise Unplannable(f"no SQL for {field.name}")
        elif field.batch is not None:
            if field.batch.build is not None or joined_by(field.batch.loader) is None:
                raise Unplannable("a relation not by a unique column")
            _check_row(field)
        elif field.page is not None:
            _check_connection(field)
        elif field.listed is not None and listed_by(field.listed[0]) is not None:
            _check_row(replace(field, children=field.listed[3]))
        else:
            raise Unplannable(f"{field.name} has a resolver")


class Writer:
    """One statement being written: its arguments, its aliases, and whether it reads any
    relation by id (which the field cache, when on, must serve instead)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.args: list[Any] = []
        self.aliases = 0
        self.relations = False

    def alias(self) -> str:
        self.aliases += 1
        return f"r{self.aliases}"

    def connection(self, plan: FieldPlan, parent: str | None, gate: str | None = None) -> str:
        """A subquery of one row: `j`, a connection's JSON as text, and `c`, the actual cost
        of what it holds (its own field's weight aside). `parent`, the expression of its
        parent's id (None: a root list); `gate`, the condition under which the parent row is
        shown (the row read past `first` for `hasNextPage` reads nothing below it)."""
        node = plan.page
        assert node is not None and plan.children is not None
        filters, page = request_of(plan, node, self.run)
        source = node.source
        sql = Sql()
        sql.args = self.args  # one numbering for the whole statement
        if source.parent_column is not None:
            if parent is None:
                raise Unplannable("a page of children without a parent")
            sql.filter(f"t.{source.parent_column} = {parent}", source.parent_column, equality=True)
        filters(sql)
        if source.parent_column is not None:
            _on_parent(sql, source.parent_column, f"{parent}")
        counted = list(sql.clauses)
        order = keyset(sql, "t", page)
        unserved = served(sql, page.ordering, source.parent_column)
        chosen = None
        if source.parent_column is None:  # a root page's chosen read
            counted, chosen = embedded(self, plan, unserved, counted)
        dump = DUMPS.get(getattr(page.ordering.parse, "__name__", ""))
        if dump is None:
            raise Unplannable("an ordering without an SQL cursor")
        a = self.alias()
        first = page.first
        table = source.entity.table
        cursor = cursor_sql(page.ordering.name, dump.format(c=f"{a}.{page.ordering.column}"), a)
        ordered = order.replace("t.", a + ".")
        # else `first` rows read, in the ordering's order (a page backwards is shown the other
        # way round, by the numbers)
        numbered = page.backward or _numbered(plan)
        order_by = None if numbered else ordered.removeprefix("ORDER BY ")
        level = _Level(a, first, order_by, page.backward)
        rows = chosen or (
            f"SELECT {source.entity.select_list('t', page.columns)} FROM {table} t"
            f" WHERE {{where}} {order} LIMIT {first + 1 if numbered else first}"
        )
        if chosen is not None and not numbered:
            # A chosen read reads `first + 1`: its first `first`, rather than all of them
            # numbered by a window (procurement_items, PostgreSQL's CPU per statement in
            # interleaved pairs: 121 -> 113 µs; issue 16).
            rows = f"SELECT * FROM ({chosen}) t {order} LIMIT {first}"
        if gate is not None:
            rows = rows.replace("{where}", f"{gate} AND {{where}}", 1)
        count = (
            kept_count(table, counted)  # a parent's children: the kept count
            or f"SELECT count(*) FROM {table} t WHERE {sql.where_sql(counted)}"
        )
        if unserved is not None and parent is not None:  # a page of children: per parent
            rows, count = per_parent(self, plan, sql, unserved, parent, rows, counted)
        rows = rows.replace("{where}", sql.where_sql(), 1)
        parts: list[tuple[str, str]] = []
        cost = _Cost()
        for field in plan.children:
            if field.definition is None:
                parts.append((field.key, json_string(field.typename or "")))
                continue
            cost.add(self.run.weight(field))
            if field.name == "totalCount":
                parts.append((field.key, f"({count})::text"))
            elif field.name == "pageInfo":
                parts.append((field.key, self._page_info(field, a, first, cursor, page, cost)))
            else:  # nodes, or edges
                parts.append((field.key, self._list(field, cursor, level, cost)))
        window = f", row_number() OVER ({ordered}) AS _n"
        if _counted(plan, page.backward):  # the last row shown: `_c`, the rows read
            window += ", count(*) OVER () AS _c"
        # GROUP BY (): one row even when no field aggregates (`edges @include(if: false)`);
        # a gate in HAVING as well, so that a hidden parent's row is not even built.
        having = "" if gate is None else f" HAVING {gate}"
        return (
            f"SELECT {json_object(parts)} AS j, ({cost.sql()})::int AS c"
            f" FROM {level.around(rows, window if numbered else '')} GROUP BY (){having}"
        )

    def _list(self, plan: FieldPlan, cursor: str, level: _Level, cost: _Cost) -> str:
        """A page's `nodes` or `edges`, its rows' cost added to `cost`."""
        if plan.name == "nodes":
            row, each = self.row(plan, level.alias, level.own, level)
        else:
            row, each = self._edge(plan, cursor, level)
        shown = level.shown()
        self._rows_cost(cost, plan, each, f"least(count(*), {level.first})", f" {shown}")
        listed = f"string_agg({row}, ',' ORDER BY {level.sequence()}) {shown}"
        return f"coalesce('[' || {listed} || ']', '[]')"

    def _listed(self, plan: FieldPlan, key: str, gate: str | None) -> str:
        """A subquery of one row: `j`, the JSON list of the rows whose column is the
        parent's `key` (the first `limit` by id, as the loader orders them), and `c`, their
        actual cost (the list's own field's weight aside)."""
        assert plan.listed is not None
        loader, _, limit, rows_plan = plan.listed
        found = listed_by(loader)
        assert found is not None
        entity, by = found
        a = self.alias()
        level = _Level(a, limit, f"{a}.id")
        row, each = self.row(replace(plan, children=rows_plan), a, level.own, level)
        cost = _Cost()
        self._rows_cost(cost, plan, each, "count(*)")
        where = f"t.{by} = {key}" if gate is None else f"{gate} AND t.{by} = {key}"
        rows = (
            f"SELECT {entity.select_list('t')} FROM {entity.table} t WHERE {where}"
            f" ORDER BY t.id LIMIT {limit}"
        )
        return (
            f"SELECT coalesce('[' || string_agg({row}, ',' ORDER BY {a}.id) || ']', '[]') AS j,"
            f" ({cost.sql()})::int AS c FROM {level.around(rows)}"
        )

    def _rows_cost(
        self, cost: _Cost, plan: FieldPlan, each: _Cost, rows: str, shown: str = ""
    ) -> None:
        """A list's cost added to `cost` (costs.rows_cost in SQL): its points per rows over
        `rows` (how many are shown), and each row's own (`each`, summed over those `shown`)."""
        points = self.run.each(plan)
        if points:
            cost.add(term=f"{points} * (({rows} + {ROWS_PER_POINT - 1}) / {ROWS_PER_POINT})")
        if each.terms:
            cost.add(term=f"coalesce(sum({each.sql()}){shown}, 0)")
        elif each.points:
            cost.add(term=f"{each.points} * {rows}")

    def _edge(self, plan: FieldPlan, cursor: str, level: _Level) -> tuple[str, _Cost]:
        """An edge's JSON, as `row` answers a row's."""
        assert plan.children is not None
        parts, cost = [], _Cost()
        for part in plan.children:
            if part.definition is None:
                parts.append((part.key, json_string(part.typename or "")))
                continue
            cost.add(self.run.weight(part))
            if part.name == "cursor":
                parts.append((part.key, f"'\"' || {cursor} || '\"'"))
            else:
                row, each = self.row(part, level.alias, level.own, level)
                parts.append((part.key, row))
                cost.include(each)
        return json_object(parts), cost

    def _page_info(
        self, plan: FieldPlan, a: str, first: int, cursor: str, page: Any, cost: _Cost
    ) -> str:
        assert plan.children is not None
        parts = []
        for field in plan.children:
            if field.definition is None:
                parts.append((field.key, json_string(field.typename or "")))
                continue
            weight = self.run.weight(field)
            # Backwards (relay.page_slice), the rows read past the page precede it, the
            # cursor follows it, and the row read first (_n = 1) ends it.
            if field.name in ("hasNextPage", "hasPreviousPage"):
                more = (field.name == "hasNextPage") != page.backward
                across = "'true'" if page.after is not None else "'false'"
                value = f"CASE WHEN count(*) > {first} THEN 'true' ELSE 'false' END"
                value = value if more else across
                cost.add(weight)
            else:  # a cursor: null on an empty page
                nearest = (field.name == "startCursor") != page.backward
                at = "1" if nearest else f"least({a}._c, {first})"
                value = (
                    f"coalesce('\"' || max({cursor}) FILTER (WHERE {a}._n = {at}) || '\"', 'null')"
                )
                if weight:
                    cost.add(term=f"{weight} * least(count(*), 1)")
            parts.append((field.key, value))
        return json_object(parts)

    def row(
        self, plan: FieldPlan, inner: str, column: Callable[[str], str], level: _Level
    ) -> tuple[str, _Cost]:
        """A row's JSON for the selection of `plan` (text, json_text), and its actual cost,
        per row: `inner`, its alias in the page's statement, where its relations are joined;
        `column`, a column's expression where the JSON is built."""
        children = plan.children
        assert children is not None
        typename = named_type(plan.shape).name
        parts = []
        cost = _Cost()
        for field in children:
            kind = getattr(field.read, "func", None)
            if field.definition is None:
                parts.append((field.key, json_string(field.typename or "")))
                continue
            weight = self.run.weight(field)
            if kind is read_node_ids:  # base64 of a type's name and a key: nothing to escape
                prefix = sql_literal(typename + ":")
                value = f"encode(convert_to({prefix} || {column('id')}, 'UTF8'), 'base64')"
                value = f"'\"' || {value} || '\"'"
                cost.add(weight)
            elif kind is read_column:
                assert field.attribute is not None
                value = leaf_json(field, column(field.attribute))
                if weight:
                    cost.add(
                        term=f"CASE WHEN {column(field.attribute)} IS NULL THEN 0 ELSE {weight} END"
                    )
            elif field.batch is not None:
                found = joined_by(field.batch.loader)
                assert found is not None
                entity, by = found
                # by id: through the cache tiers when they are on (a row by another unique
                # column, a supplier by document, never is, on either path)
                self.relations = self.relations or by == "id"
                b = self.alias()
                level.joins.append(
                    f"LEFT JOIN {entity.table} {b} ON {b}.{by} = {inner}.{field.batch.key}"
                )
                joined = partial(level.joined, b)
                key = joined("id")
                row, below = self.row(field, b, joined, level)
                value = f"CASE WHEN {key} IS NULL THEN 'null' ELSE {row} END"
                below.add(weight)
                if below.points or below.terms:
                    cost.add(term=f"CASE WHEN {key} IS NULL THEN 0 ELSE {below.sql()} END")
            elif field.listed is not None:  # rows by a column: a subquery per shown row
                x = self.alias()
                gate = level.gate()
                level.laterals.append((x, self._listed(field, column(field.listed[1]), gate)))
                value = f"{x}.j"
                cost.add(weight, f"{x}.c")
            else:  # a page of children: a subquery per shown row, beside the rows
                x = self.alias()
                gate = level.gate()
                level.laterals.append((x, self.connection(field, column("id"), gate)))
                value = f"{x}.j"
                cost.add(weight, f"{x}.c")
            parts.append((field.key, value))
        return json_object(parts), cost


def _on_parent(sql: Sql, column: str, parent: str) -> None:
    """Clauses on the parent's column besides its own (an agency's contracts by the agency's
    town, sphere or CNPJ) as tests of the parent, which PostgreSQL makes once per parent
    (a one-time filter), as the levels decide them by the parent's row (child_pages.settle):
    tested on each child, the four largest agencies were walked whole for a town none of
    them is in (71,520 rows read for none on 1,000,000 contracts; now 12)."""
    own = f"t.{column}"
    for i, clause in enumerate(sql.clauses[1:], 1):
        if clause.column == column:
            tested = clause.tested and clause.tested.replace(own, parent)
            sql.clauses[i] = replace(clause, sql=clause.sql.replace(own, parent), tested=tested)


class _Level:
    """The rows of one page (alias `alias` where the JSON is built, `first` of them shown)
    and what its statement joins to them: relations and the columns read of them, and
    the pages below its rows.

    Relations are joined above the page's LIMIT, to its first + 1 rows. Joined under it, the
    planner saw the whole table as the join's outer side and put a Memoize before each
    relation, sized for every distinct key (50,000 suppliers): a hash table allocated and
    zeroed on every run and, in a parent's page, on every parent (the fragments shape: 994
    µs of backend CPU, 312 µs without; tuned page 966 → 840 µs). Above the LIMIT the
    planner sees first + 1 rows and looks each up by its key."""

    def __init__(self, alias: str, first: int, order: str | None, backward: bool = False) -> None:
        self.alias = alias
        self.first = first
        self.order = order  # None: the rows are numbered (`_n`), one past `first` read
        # A page backwards is read nearest its cursor first (keyset reverses the ordering),
        # and shown the other way round, in the list's order.
        self.backward = backward
        self.joins: list[str] = []
        self.columns: dict[str, None] = {}
        self.laterals: list[tuple[str, str]] = []

    def shown(self) -> str:
        return "" if self.order else f"FILTER (WHERE {self.gate()})"

    def gate(self) -> str | None:
        """Whether a row is shown, or None: every row read is."""
        return None if self.order else f"{self.alias}._n <= {self.first}"

    def sequence(self) -> str:
        return self.order or f"{self.alias}._n{' DESC' if self.backward else ''}"

    def own(self, column: str) -> str:
        return f"{self.alias}.{column}"

    def around(self, rows: str, window: str = "") -> str:
        """`rows` as the level's FROM item, once its rows' JSON is written: with the columns
        read of their relations (and `window`), the relations' joins, the pages below them."""
        a = self.alias
        shown = f"SELECT {', '.join([a + '.*', *self.columns])}{window} FROM ({rows}) {a}"
        laterals = " ".join(f"LEFT JOIN LATERAL ({q}) {x} ON true" for x, q in self.laterals)
        return f"({shown} {' '.join(self.joins)}) {a} {laterals}"

    def joined(self, relation: str, column: str) -> str:
        self.columns[f"{relation}.{column} AS {relation}_{column}"] = None
        return f"{self.alias}.{relation}_{column}"


def _numbered(plan: FieldPlan) -> bool:
    """Whether a page's rows are numbered, `first + 1` read: for `hasNextPage` and the
    page's cursors. A window (`row_number`, `count(*) OVER ()`) costs PostgreSQL about
    2 µs a row (suppliers by name, 51 rows: 249 → 216 µs of backend CPU without)."""
    assert plan.children is not None
    return any(
        f.name in _ROW_BOUND and f.definition is not None
        for field in plan.children
        if field.name == "pageInfo" and field.children is not None
        for f in field.children
    )


_ROW_BOUND = frozenset({"hasNextPage", "startCursor", "endCursor"})


def _counted(plan: FieldPlan, backward: bool) -> bool:
    """Whether a numbered page needs its rows counted in the window (`_c`): for the cursor
    of its last row shown (`endCursor`, backwards `startCursor`). `count(*) OVER ()` keeps
    every row read until the last is (back_page, 20 rows: PostgreSQL's CPU per statement
    interleaved, 118 -> 106 µs without it; issue 16)."""
    assert plan.children is not None
    last = "startCursor" if backward else "endCursor"
    return any(
        f.name == last and f.definition is not None
        for field in plan.children
        if field.name == "pageInfo" and field.children is not None
        for f in field.children
    )


class _Cost:
    """An actual cost being written in SQL: points known now, and terms PostgreSQL adds."""

    def __init__(self) -> None:
        self.points = 0
        self.terms: list[str] = []

    def add(self, points: int = 0, term: str | None = None) -> None:
        self.points += points
        if term is not None:
            self.terms.append(term)

    def include(self, other: _Cost) -> None:
        self.points += other.points
        self.terms.extend(other.terms)

    def sql(self) -> str:
        return " + ".join([str(self.points), *self.terms] if self.points else self.terms or ["0"])
