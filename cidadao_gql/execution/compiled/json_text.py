"""JSON written by SQL as text, exactly as orjson writes it: the values of a statement's
objects (`tree`), cursors, and the objects themselves.

`to_json` is what makes a value's escapes orjson's, but PostgreSQL 15 looks the argument's
type up again on every call (four catalog-cache lookups for `text`: 0.5 µs a value, most
of a row's cost): a value whose text can hold nothing to escape is quoted as it is instead.
Those are our global IDs (base64), `__typename` and enum names (GraphQL names), Decimal and
DateTime (digits and signs, as LEAVES writes them) and Int (digits, unquoted); text columns
(String, an enum whose names are its stored values) keep `to_json`.
"""

from __future__ import annotations

from typing import Any

import orjson

from cidadao_gql.execution.compiled.selection import enum_values, named_type

_TIME = "to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {c})"
_TIME += " % 1000000 <> 0 THEN to_char({c}, '.US') ELSE '' END"
# Scalars as our scalar types print them (schema/inputs.py): Decimal with at least two
# decimals, DateTime of a PNCP column (a timestamp without zone: Brasília's) with its offset.
LEAVES: dict[str, str] = {
    "String": "{c}",
    "ID": "{c}",
    "Int": "{c}",
    "Boolean": "{c}",
    "Date": "{c}",  # JSON writes dates as ISO 8601 whatever the DateStyle
    "Decimal": "CASE WHEN scale({c}) >= 2 THEN {c}::text ELSE round({c}, 2)::text END",
    "DateTime": f"({_TIME} || '-03:00')",
}
# Leaves whose SQL text is JSON's as it is (Int: an integer column's digits), or once
# quoted (LEAVES' text of digits, signs and `NaN`/`Infinity`): nothing in them to escape.
_BARE = frozenset({"Int"})
_QUOTED = frozenset({"Decimal", "DateTime"})
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


def leaf_sql(plan: Any, column: str) -> str | None:
    """A leaf field's value in SQL (what LEAVES writes, or an enum's name), or None when it
    has no SQL twin."""
    named = named_type(plan.shape)
    values = enum_values(named)
    if values is not None:
        if all(str(v) == n for v, n in values.items()):
            return column  # the names are the values (UF)
        cases = " ".join(
            f"WHEN {sql_literal(str(v))} THEN {sql_literal(n)}" for v, n in values.items()
        )
        return f"CASE {column}::text {cases} END"
    found = LEAVES.get(getattr(named, "name", ""))
    return None if found is None else found.format(c=column)


def leaf_json(plan: Any, column: str) -> str:
    """A leaf field's JSON as text (`null` for NULL), to_json only where text may need
    escaping (see the module docstring)."""
    found = leaf_sql(plan, column)
    assert found is not None
    named = named_type(plan.shape)
    if enum_values(named) is None:
        if named.name in _BARE:
            return f"coalesce(({found})::text, 'null')"
        if named.name in _QUOTED:
            return f"coalesce('\"' || {found} || '\"', 'null')"
    elif found != column:  # an enum's names, GraphQL names: [_A-Za-z0-9]
        return f"coalesce('\"' || {found} || '\"', 'null')"
    return f"coalesce(to_json({found})::text, 'null')"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_string(text: str) -> str:
    """A JSON string known now, as an SQL literal of its JSON."""
    return sql_literal(orjson.dumps(text).decode())


def json_object(parts: list[tuple[str, str]]) -> str:
    """A JSON object as text, written as orjson writes it (compact, keys in order); the
    values are JSON text already, never NULL. Joined with `||`, not `concat`, which looks up
    each argument's output function on every call (concat of a row's 8 pieces: about as
    dear as row_to_json)."""
    pieces: list[str] = []
    for index, (key, value) in enumerate(parts):
        opening = ("{" if index == 0 else ",") + orjson.dumps(key).decode() + ":"
        pieces += [sql_literal(opening), f"({value})"]
    pieces.append("'}'" if parts else "'{}'")
    return f"({' || '.join(pieces)})"


def cursor_sql(name: str, value: str, a: str) -> str:
    """relay.encode_cursor in SQL: URL-safe base64 of `["NAME","value",id]` (orjson's
    compact JSON; `value`, the value's JSON string: DUMPS), the line breaks PostgreSQL's
    base64 puts every 76 characters taken out."""
    opening = sql_literal('["' + name + '",')
    text = f"{opening} || {value} || ',' || {a}.id || ']'"
    return f"translate(encode(convert_to({text}, 'UTF8'), 'base64'), E'+/\\n', '-_')"
