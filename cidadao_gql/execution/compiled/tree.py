"""Root lists answered by one statement whose JSON PostgreSQL builds.

Run level by level, a four-level chain of nested connections cost five statements, each a
round trip whose event-loop and socket work was most of our process' CPU (py-spy, cProfile:
`benchmarks/shape_profile.py`), and each row was decoded into a record, read field by field
and encoded again. PostGraphile v5 sends one statement. Here a root connection whose
subtree holds only columns, global IDs, `__typename`, relations by id (`relay.batched`) and
connections of children (`relay.paged`) becomes one expression: `json_build_object` per
row, `json_agg` per page (ordered and limited per parent, `first + 1` rows read for
`hasNextPage`), a relation joined by id to the page's rows, `totalCount` a correlated
count, and global IDs and cursors encoded in SQL exactly as `relay.encode_id` and
`relay.encode_cursor` write them. All such root fields of an operation go in one statement, prepared once per
text by asyncpg's statement cache; its JSON is decoded by orjson into the response's data
(C: the view encodes it again as it encodes any answer, so bytes match the ordinary path's).

What cannot be written so falls back to the levels (`execute`), per root field: a field with
a resolver of its own, a scalar without an SQL twin, a page whose filter its ordering's index
does not serve (`page_plans.served`: those pages need the data layer's per-parent plan choice),
and relations when the field cache is on (rows by id keep going through the cache tiers).
Bad arguments (a cursor, a page size) are raised while the statement is written, and the
ordinary path answers them. `cidadao_ai_compiled_fields_total` counts each root field by
how it ran.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from cidadao_gql.data.kept_counts import kept_count
from cidadao_gql.data.loaders import entity_of
from cidadao_gql.data.page_plans import served
from cidadao_gql.data.sql import keyset
from cidadao_gql.data.statement import Sql
from cidadao_gql.errors import Unplannable
from cidadao_gql.execution.compiled.pages import request_of
from cidadao_gql.execution.compiled.selection import (
    FieldPlan,
    Selection,
    enum_values,
    named_type,
    read_column,
    read_node_ids,
)
from cidadao_gql.execution.costs import rows_cost

# json_build_object takes at most 100 arguments: 50 keys and their values.
MAX_KEYS = 50
# The longest SQL name, in bytes: a record's column (a key) longer than it would be cut.
NAMEDATALEN = 63
_TIME = "to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {c})"
_TIME += " % 1000000 <> 0 THEN to_char({c}, '.US') ELSE '' END"
# Scalars as our scalar types print them (schema/inputs.py): Decimal with at least two
# decimals, DateTime of a PNCP column (a timestamp without zone: Brasília's) with its offset.
LEAVES: dict[str, str] = {
    "String": "{c}",
    "ID": "{c}",
    "Int": "{c}",
    "Boolean": "{c}",
    "Float": "{c}::float8",
    "Date": "{c}",  # JSON writes dates as ISO 8601 whatever the DateStyle
    "Decimal": "CASE WHEN scale({c}) >= 2 THEN {c}::text ELSE round({c}, 2)::text END",
    "DateTime": f"({_TIME} || '-03:00')",
}
# A cursor's value as Ordering.dump writes it and orjson then quotes it, by the ordering's
# parser's name: text as PostgreSQL's JSON writes it, which escapes what orjson escapes
# (`"`, `\\`, control characters: \b \f \n \r \t, the others as \u00xx) and nothing else.
DUMPS: dict[str, str] = {
    "read_date": "'\"' || to_char({c}, 'YYYY-MM-DD') || '\"'",
    "read_timestamp": f"('\"' || {_TIME} || '\"')",
    "read_money": "'\"' || round({c}, 2)::text || '\"'",
    "read_integer": "'\"' || {c}::text || '\"'",
    "read_key": "'\"' || {c}::text || '\"'",
    "read_text": "to_json({c}::text)::text",
}


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
    if len(plan.children) > MAX_KEYS:
        raise Unplannable("too many keys for json_build_object")
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
    if plan.children is None or plan.by_runtime_type or len(plan.children) > MAX_KEYS:
        raise Unplannable(plan.name)
    for field in plan.children:
        if field.definition is not None and field.name not in names:
            raise Unplannable(field.name)


def _check_row(plan: FieldPlan) -> None:
    children = plan.children
    if children is None or children.fill is None or len(children) > MAX_KEYS:
        raise Unplannable("not a selection on rows")
    for field in children:
        kind = getattr(field.read, "func", None)
        if field.definition is None or kind is read_node_ids:
            continue
        if kind is read_column:
            if _leaf(field, "{c}") is None:
                raise Unplannable(f"no SQL for {field.name}")
        elif field.batch is not None:
            if field.batch.build is not None or entity_of(field.batch.loader) is None:
                raise Unplannable("a relation not by id")
            _check_row(field)
        elif field.page is not None:
            _check_connection(field)
        else:
            raise Unplannable(f"{field.name} has a resolver")


def _leaf(plan: FieldPlan, column: str) -> str | None:
    named = named_type(plan.shape)
    values = enum_values(named)
    if values is not None:
        if all(str(v) == n for v, n in values.items()):
            return column  # the names are the values (UF)
        cases = " ".join(f"WHEN {_literal(str(v))} THEN {_literal(n)}" for v, n in values.items())
        return f"CASE {column}::text {cases} END"
    found = LEAVES.get(getattr(named, "name", ""))
    return None if found is None else found.format(c=column)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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

    def connection(self, plan: FieldPlan, parent: str | None) -> str:
        """A connection's JSON: `parent`, the expression of its parent's id (None: a root
        list)."""
        node = plan.page
        assert node is not None and plan.children is not None
        filters, page = request_of(plan, node, self.run)
        if page.backward:
            # The levels read it (see _BACKWARD below: written here, held back).
            raise Unplannable(_BACKWARD)
        source = node.source
        sql = Sql()
        sql.args = self.args  # one numbering for the whole statement
        if source.parent_column is not None:
            if parent is None:
                raise Unplannable("a page of children without a parent")
            sql.filter(f"t.{source.parent_column} = {parent}", source.parent_column, equality=True)
        filters(sql)
        counted = list(sql.clauses)
        order = keyset(sql, "t", page)
        if served(sql, page.ordering, source.parent_column) is not None:
            raise Unplannable("a filter the ordering's index does not serve")
        dump = DUMPS.get(getattr(page.ordering.parse, "__name__", ""))
        if dump is None:
            raise Unplannable("an ordering without an SQL cursor")
        a = self.alias()
        first = page.first
        table = source.entity.table
        cursor = _cursor(page.ordering.name, dump.format(c=f"{a}.{page.ordering.column}"), a)
        shown = f"FILTER (WHERE {a}._n <= {first})"
        level = _Level(a)
        parts: list[tuple[str, str]] = []
        for field in plan.children:
            if field.definition is None:
                parts.append((field.key, _literal(field.typename or "")))
            elif field.name == "totalCount":
                count = kept_count(table, counted)  # a parent's children: the kept count
                if count is None:
                    count = f"SELECT count(*) FROM {table} t WHERE {sql.where_sql(counted)}"
                parts.append((field.key, f"({count})"))
            elif field.name == "pageInfo":
                parts.append((field.key, self._page_info(field, a, first, cursor, page)))
            elif field.name == "nodes":
                row = self.row(field, a, level.own, level)
                parts.append((field.key, f"coalesce(json_agg({row} ORDER BY {a}._n)"
                                         f" {shown}, '[]')"))  # fmt: skip
            else:  # edges
                assert field.children is not None
                edge = []
                for part in field.children:
                    if part.definition is None:
                        edge.append((part.key, _literal(part.typename or "")))
                    elif part.name == "cursor":
                        edge.append((part.key, cursor))
                    else:
                        edge.append((part.key, self.row(part, a, level.own, level)))
                agg = f"json_agg({level.record(edge)} ORDER BY {a}._n) {shown}"
                parts.append((field.key, f"coalesce({agg}, '[]')"))
        # Relations joined above the page's LIMIT, to its first + 1 rows. Joined under it, the
        # planner saw the whole table as the join's outer side and put a Memoize before each
        # relation, sized for every distinct key (50,000 suppliers): a hash table allocated
        # and zeroed on every run and, in a parent's page, on every parent (the fragments
        # shape: 994 µs of backend CPU, 312 µs without; tuned page 966 → 840 µs). Above the
        # LIMIT the planner sees first + 1 rows and looks each up by its key.
        rows = (
            f"SELECT {source.entity.select_list('t', page.columns)} FROM {table} t"
            f" WHERE {sql.where_sql()} {order} LIMIT {first + 1}"
        )
        ranked = (
            f"SELECT {', '.join([a + '.*', *level.columns])},"
            f" row_number() OVER ({order.replace('t.', a + '.')}) AS _n,"
            f" count(*) OVER () AS _c FROM ({rows}) {a} {' '.join(level.joins)}"
        )
        # GROUP BY (): one object even when no field aggregates (`edges @include(if: false)`)
        records = " ".join(level.records)
        return f"(SELECT {_object(parts)} FROM ({ranked}) {a} {records} GROUP BY ())"

    def _page_info(self, plan: FieldPlan, a: str, first: int, cursor: str, page: Any) -> str:
        assert plan.children is not None
        parts = []
        for field in plan.children:
            if field.definition is None:
                value = _literal(field.typename or "")
            elif field.name == "hasNextPage":
                value = f"count(*) > {first}"
            elif field.name == "hasPreviousPage":
                value = "true" if page.after is not None else "false"
            elif field.name == "startCursor":
                value = f"max({cursor}) FILTER (WHERE {a}._n = 1)"
            else:
                value = f"max({cursor}) FILTER (WHERE {a}._n = least({a}._c, {first}))"
            parts.append((field.key, value))
        return _object(parts)

    def row(self, plan: FieldPlan, inner: str, column: Callable[[str], str], level: _Level) -> str:
        """A row's JSON object for the selection of `plan` (`_Level.record`): `inner`, its
        alias in the page's statement, where its relations are joined; `column`, a column's
        expression where the JSON is built."""
        children = plan.children
        assert children is not None
        typename = named_type(plan.shape).name
        parts = []
        for field in children:
            kind = getattr(field.read, "func", None)
            if field.definition is None:
                value = _literal(field.typename or "")
            elif kind is read_node_ids:
                prefix = _literal(typename + ":")
                value = f"encode(convert_to({prefix} || {column('id')}, 'UTF8'), 'base64')"
            elif kind is read_column:
                assert field.attribute is not None
                found = _leaf(field, column(field.attribute))
                assert found is not None
                value = found
            elif field.batch is not None:
                entity = entity_of(field.batch.loader)
                assert entity is not None
                self.relations = True
                b = self.alias()
                level.joins.append(
                    f"LEFT JOIN {entity.table} {b} ON {b}.id = {inner}.{field.batch.key}"
                )
                joined = partial(level.joined, b)
                value = f"CASE WHEN {joined('id')} IS NULL THEN NULL ELSE"
                value += f" {self.row(field, b, joined, level)} END"
            else:
                value = self.connection(field, column("id"))
            parts.append((field.key, value))
        return level.record(parts)


class _Level:
    """The rows of one page (alias `alias` where the JSON is built) and what its statement
    joins to them: relations, and the columns read of them."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.joins: list[str] = []
        self.columns: dict[str, None] = {}
        self.records: list[str] = []

    def own(self, column: str) -> str:
        return f"{self.alias}.{column}"

    def joined(self, relation: str, column: str) -> str:
        self.columns[f"{relation}.{column} AS {relation}_{column}"] = None
        return f"{self.alias}.{relation}_{column}"

    def record(self, parts: list[tuple[str, str]]) -> str:
        """An object of each row, as a record whose columns are named by the keys: a
        subquery of the row (`CROSS JOIN LATERAL`, which the planner pulls up into a ROW
        expression) that json_agg, or an enclosing record, writes as an object. Cheaper
        than `json_build_object`, which looks up each value's type and output function
        again on every call: the tuned page's statement 879 → 705 µs of PostgreSQL's CPU.
        A key longer than an SQL name (63 bytes) keeps json_build_object, and so does an
        object holding a subquery (a nested connection): PostgreSQL does not pull such a
        lateral subquery up and ran it for the page's `first + 1`th row too, which only
        `hasNextPage` reads (the four-level chain: 685 → 926 µs)."""
        if any(len(key.encode()) > NAMEDATALEN or "SELECT" in value for key, value in parts):
            return _object(parts)
        name = f"{self.alias}_o{len(self.records)}"
        columns = ", ".join(f'{value} AS "{key}"' for key, value in parts)
        self.records.append(f"CROSS JOIN LATERAL (SELECT {columns}) {name}")
        return name


# A page backwards (`last`/`before`) as the forward page of the reverse ordering, shown the
# other way round (commit 339aeb5 on branch shapes16: `ORDER BY _n DESC` in the json_agg,
# hasPreviousPage from the extra row, start and end cursors swapped) answered byte for
# byte, but tests/schema/test_limits.py, test_paging.py and test_prices.py run together
# then left a pool connection mid-statement (`active`, ClientRead) and the next statement
# on it hit the statement timeout. Not understood yet, so the levels keep such pages.
_BACKWARD = "a page backwards"


def _object(parts: list[tuple[str, str]]) -> str:
    return "json_build_object(" + ", ".join(f"{_literal(k)}, {v}" for k, v in parts) + ")"


# Where PostgreSQL's time goes in these statements (1,000,000 contracts, backend CPU in a
# tight asyncpg loop, loaded machine): building JSON, about 6 µs a row of the tuned page (its
# four objects and 17 values; the same rows as plain columns, as PostGraphile v5 reads them,
# cost 441 µs of our 728). Encoding 101 global IDs in base64 costs 15-35 µs, the Decimal
# CASE 27-46 µs, the window functions less: not worth a form of their own.
def _cursor(name: str, value: str, a: str) -> str:
    """relay.encode_cursor in SQL: URL-safe base64 of `["NAME","value",id]` (orjson's
    compact JSON; `value`, the value's JSON string: DUMPS), the line breaks PostgreSQL's
    base64 puts every 76 characters taken out."""
    opening = _literal('["' + name + '",')
    text = f"{opening} || {value} || ',' || {a}.id || ']'"
    return f"translate(encode(convert_to({text}, 'UTF8'), 'base64'), E'+/\\n', '-_')"


def statement_of(plans: list[FieldPlan], run: Any) -> tuple[str, list[Any], bool]:
    """The statement answering root fields `plans`, one column of JSON bytes each; its
    arguments; whether it reads relations by id. Unplannable (or Fallback, for bad
    arguments) when it cannot be written."""
    writer = Writer(run)
    # As bytes (bytea, binary): asyncpg hands them over undecoded, orjson reads UTF-8 (as
    # text, a str decoded to be encoded again: 50 of 300 µs CPU on the 100-row page).
    columns = [f"convert_to(({writer.connection(plan, None)})::text, 'UTF8')" for plan in plans]
    return "SELECT " + ", ".join(columns), writer.args, writer.relations


def cost_of(selection: Selection, objects: list[dict[str, Any]], run: Any) -> int:
    """The actual cost of decoded answers, as the levels add it up (`run.weight`,
    `run.each`): each non-null field's weight, for every object it is in, and each list of
    objects its rows' points (costs.rows_cost)."""
    total = 0
    for plan in selection:
        if plan.definition is None:
            continue
        found = run.weight(plan)
        if not found and plan.children is None:
            continue
        key = plan.key
        present = [v for o in objects if (v := o[key]) is not None]
        if found:
            total += found * len(present)
        if plan.children is not None and present:
            below: list[dict[str, Any]] = []
            each = run.each(plan) if type(present[0]) is list else 0
            for value in present:
                if type(value) is list:
                    rows = [v for v in value if v is not None]
                    if each:
                        total += rows_cost(each, len(rows))
                    below.extend(rows)
                else:
                    below.append(value)
            total += cost_of(plan.children, below, run)
    return total
