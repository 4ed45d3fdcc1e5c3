"""The root fields of one statement (tree), `node(id:)` among them.

`node(id:)` ran level by level: the row by its id, then each relation and each page below it
a round trip of its own (the detail of a procurement with its agency, items and contracts:
five), where PostGraphile v5 sends one statement. Its ID is decoded when the statement is
written (once per plan and set of variables, as a page's arguments are), which picks the
selection of the ID's type (fragments on Node and on that type, `__typename`); the row is
then written as a page's row is (`Writer.row`: its columns, relations by id joined to it,
pages of children beside it), from a subquery of at most one row: no row, `null`. An ID
that does not decode, or names no type, is the ordinary path's to answer (INVALID_ID, with
its path), as a page's bad arguments are. An ID whose type's selection cannot be written (a
field with a resolver of its own) leaves that root field alone to the levels: the others of
the operation stay in the statement. The row is one by id: when the field cache is on, it
goes through the cache tiers, level by level, as relations do.
"""

from __future__ import annotations

from typing import Any

from graphql.execution.values import get_argument_values

from cidadao_gql.data.loaders import entity_of
from cidadao_gql.errors import Fallback, Unplannable
from cidadao_gql.execution.compiled.selection import FieldPlan, read_column
from cidadao_gql.execution.compiled.sources import Written
from cidadao_gql.execution.compiled.tree import Writer, _check_row, _Level
from cidadao_gql.execution.compiled.tree import why_not_one as why_not_a_page
from cidadao_gql.schema.relay import decode_id


def why_not_one(plan: FieldPlan) -> str | None:
    """Why a root field's subtree cannot be one expression, as far as the plan shows, or
    None (its arguments, and for a lookup the ID's type, may still say no at run time)."""
    if not plan.lookups:
        return why_not_a_page(plan)
    reasons = []
    for _, rows_plan in plan.lookups.values():
        try:
            _check_row(rows_plan)
        except Unplannable as reason:
            reasons.append(str(reason))
    return reasons[0] if len(reasons) == len(plan.lookups) else None


def statement_of(plans: list[FieldPlan], run: Any) -> Written:
    """The statement answering root fields `plans`: two columns each, its JSON (bytes) and
    its actual cost (its own field's weight aside); its arguments; whether it reads
    rows by id; the root fields it leaves to the levels (by key: why), whose subtree or ID's
    type it cannot write (a node of a type with a resolver beside nodes without: those go
    in the statement still). Unplannable when it can write none of them (Fallback, for bad
    arguments)."""
    writer = Writer(run)
    columns: list[str] = []
    sources: list[str] = []
    left: dict[str, str] = {}
    chosen = getattr(run, "chosen", None)
    for plan in plans:
        args, relations = len(writer.args), writer.relations
        try:
            written = lookup(writer, plan) if plan.lookups else writer.connection(plan, None)
        except Unplannable as reason:  # the statement as it was before this field
            del writer.args[args:]
            writer.relations = relations
            if chosen is not None:
                chosen.places.pop(id(plan), None)
            left[plan.key] = str(reason)
            continue
        index = len(sources)
        sources.append(f"({written}) s{index}")
        # As bytes (bytea, binary): asyncpg hands them over undecoded, and they are the
        # response's own (text would be a str decoded to be encoded again).
        columns += [f"convert_to(s{index}.j, 'UTF8')", f"s{index}.c"]
    if not sources:
        raise Unplannable(next(iter(left.values())))
    text = f"SELECT {', '.join(columns)} FROM {' CROSS JOIN '.join(sources)}"
    return text, writer.args, writer.relations, left


def lookup(writer: Writer, plan: FieldPlan) -> str:
    """A subquery of one row: `j`, the JSON of the object with the field's ID (`null` when
    there is no such row), and `c`, the actual cost of what it holds (its own field's weight
    aside, which counts only when it is not null)."""
    assert plan.definition is not None
    try:
        given = get_argument_values(plan.definition, plan.details[0].node, writer.run.variables)
        type_name, pk = decode_id(given["id"])
    except Exception as exc:  # the ordinary path's InvalidId, with its path
        raise Fallback from exc
    found = plan.lookups.get(type_name)
    if found is None:
        raise Fallback  # the ID of no type: the ordinary path's InvalidId
    loader, rows_plan = found
    _check_row(rows_plan)
    entity = entity_of(loader)
    assert entity is not None and rows_plan.children is not None
    writer.relations = True  # a row by id: through the cache tiers when they are on
    writer.args.append(pk)
    key = f"${len(writer.args)}"
    a = writer.alias()
    level = _Level(a, 1, f"{a}.id")  # one row, shown: no numbers, no gate below it
    row, cost = writer.row(rows_plan, a, level.own, level)
    read = (
        {"id"}
        | {
            p.batch.key if p.batch is not None else p.attribute or "id"
            for p in rows_plan.children
            if p.batch is not None or getattr(p.read, "func", None) is read_column
        }
        | {p.listed[1] for p in rows_plan.children if p.listed is not None}
    )
    rows = (
        f"SELECT {entity.select_list('t', frozenset(read))} FROM {entity.table} t"
        f" WHERE t.id = {key}"
    )
    # No aggregate to make the one row of none (max, sum): left-joined to a row of its
    # own, the row's expressions are evaluated as they are (node_contract, backend CPU per
    # statement interleaved: 66.0 -> 60.9 µs; issue 16).
    return (
        "SELECT coalesce(x.j, 'null') AS j, coalesce(x.c, 0) AS c FROM (SELECT) o LEFT JOIN"
        f" (SELECT {row} AS j, ({cost.sql()})::int AS c FROM {level.around(rows)}) x ON true"
    )
