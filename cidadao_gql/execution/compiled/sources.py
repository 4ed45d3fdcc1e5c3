"""Root pages whose filter the ordering's index does not serve, in the one statement (tree).

Such a page has several reads that give the same rows at very different costs (issue 23:
the ordering's index walked, the matches read first in a fence, a walk per value, a day at
a time), which the data layer chooses from the planner's estimates and natural keys looked
up first (`sql.choose_page`): awaited work the writer, synchronous, cannot do. So before
the statement is written, each such root page's read is chosen as the ordinary path chooses
it, with the same statements (estimates kept per process, keys looked up), and the writer
embeds that read as the page's rows: the same rows read as the ordinary path, in one
statement with the page's count, relations and pages below. A page of children (nested,
many parents) still runs on the levels: its choice is per parent (`sql._per_parent`).

The choice is made again on every run, as the ordinary path makes it (the keys it looks up
and the estimates behind it change with the data); the statement written around it is kept
with the plan's price by the reads chosen (`Kept`), the arguments of this run's choice put in
place of the ones it was written with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from cidadao_gql.data import page_plans
from cidadao_gql.data.sql import PageSource, choose_page, keyset
from cidadao_gql.data.statement import Clause, Sql
from cidadao_gql.errors import Fallback, Unplannable
from cidadao_gql.execution.compiled.pages import request_of
from cidadao_gql.execution.compiled.selection import FieldPlan

_PARAMETER = re.compile(r"\$(\d+)")
UNSERVED = "a filter the ordering's index does not serve"
# lookups.statement_of's: text, arguments, relations, and the root fields left to the levels
# (by key: why), the statement's columns the others'
Written = tuple[str, list[Any], bool, dict[str, str]]
KEPT_STATEMENTS = 8  # per plan and set of variables: the reads one page may choose, and more


class Chosen:
    """The reads chosen for a run's root pages (`reads`, by FieldPlan id) and where the
    statement written put each one's arguments (`places`: the first one's index)."""

    __slots__ = ("places", "reads")

    def __init__(self, reads: dict[int, PageSource]) -> None:
        self.reads = reads
        self.places: dict[int, int] = {}


class Kept:
    """Statements written around chosen reads, by the reads' texts."""

    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written: dict[tuple[str, ...], tuple[Written, dict[int, int]]] = {}

    def get(self, chosen: Chosen) -> Written | None:
        """The statement kept for reads of the same texts, with `chosen`'s arguments."""
        found = self.written.get(tuple(read.text for read in chosen.reads.values()))
        if found is None:
            return None
        (text, template, relations, left), places = found
        args = list(template)
        for plan, start in places.items():
            read = chosen.reads[plan]
            args[start : start + len(read.args)] = read.args  # as many: the same text
        return text, args, relations, left

    def keep(self, written: Written, chosen: Chosen) -> None:
        if len(self.written) >= KEPT_STATEMENTS:
            self.written.pop(next(iter(self.written)))
        key = tuple(read.text for read in chosen.reads.values())
        self.written[key] = (written, dict(chosen.places))


async def written(
    plans: list[FieldPlan], run: Any, key: int, write: Callable[[list[FieldPlan], Any], Written]
) -> Written | str:
    """The statement of root fields `plans` (`write`: lookups.statement_of) or why there is
    none, kept in the run's price under `key`: as written when it embeds no chosen read, by
    the reads chosen (`Kept`) when it does."""
    known = run.price.arguments
    found = known.get(key)
    if found is not None and not isinstance(found, Kept):
        return cast("Written | str", found)
    run.chosen = await choose_sources(plans, run)
    if found is not None:
        again = found.get(run.chosen)
        if again is not None:
            return again
    try:
        text = write(plans, run)
    except Unplannable as unplannable:
        known[key] = str(unplannable)
        return str(unplannable)
    if not run.chosen.reads:
        known[key] = text
    else:
        kept = known[key] = found or Kept()
        kept.keep(text, run.chosen)
    return text


async def choose_sources(plans: list[FieldPlan], run: Any) -> Chosen:
    """The read of each root page of `plans` that needs a choice."""
    chosen: dict[int, PageSource] = {}
    for plan in plans:
        node = plan.page
        if node is None or plan.children is None or node.source.parent_column is not None:
            continue
        filters, page = request_of(plan, node, run)
        sql = Sql()
        filters(sql)
        keyset(sql, "t", page)
        if page_plans.served(sql, page.ordering) is None:
            continue
        db = run.info.context.loaders.db
        try:
            chosen[id(plan)] = await choose_page(db, node.source.entity, filters, page)
        except Exception as exc:  # (cancelled: the operation timed out; not a fallback)
            raise Fallback from exc
    return Chosen(chosen)


def embedded(
    writer: Any, plan: FieldPlan, unserved: object, counted: list[Clause]
) -> tuple[list[Clause], str | None]:
    """The clauses a count of the page tests and the statement of its rows (None: the
    writer's own, which its ordering's index serves). A page whose read was chosen takes
    the arguments of the choice in place of the ones the writer's clauses took (the last
    `own` of the statement's), renumbered after the statement's; one not chosen (a page of
    children) is Unplannable."""
    if unserved is None:
        return counted, None
    chosen: Chosen | None = getattr(writer.run, "chosen", None)
    found = None if chosen is None else chosen.reads.get(id(plan))
    if chosen is None or found is None:
        raise Unplannable(UNSERVED)
    args: list[Any] = writer.args
    assert len(args) >= found.own
    del args[len(args) - found.own :]
    offset = chosen.places[id(plan)] = len(args)
    args.extend(found.args)

    def renumbered(text: str) -> str:
        return _PARAMETER.sub(lambda n: f"${int(n[1]) + offset}", text)

    return [replace(c, sql=renumbered(c.sql)) for c in found.counted], renumbered(found.text)
