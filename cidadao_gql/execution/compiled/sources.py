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

The written statement is not kept with the plan's price when it holds a choice: the keys it
looked up and the estimates behind it change with the data, as the ordinary path's do.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from cidadao_gql.data import page_plans
from cidadao_gql.data.sql import PageSource, choose_page, keyset
from cidadao_gql.data.statement import Clause, Sql
from cidadao_gql.errors import Fallback, Unplannable
from cidadao_gql.execution.compiled.pages import request_of
from cidadao_gql.execution.compiled.selection import FieldPlan

_PARAMETER = re.compile(r"\$(\d+)")
UNSERVED = "a filter the ordering's index does not serve"


async def choose_sources(plans: list[FieldPlan], run: Any) -> dict[int, PageSource]:
    """The read of each root page of `plans` that needs a choice, by FieldPlan id."""
    chosen: dict[int, PageSource] = {}
    for plan in plans:
        node = plan.page
        if node is None or plan.children is None or node.source.parent_column is not None:
            continue
        filters, page = request_of(plan, node, run)
        if page.backward:
            continue  # the levels read it (tree._BACKWARD)
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
    return chosen


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
    found: PageSource | None = getattr(writer.run, "chosen", {}).get(id(plan))
    if found is None:
        raise Unplannable(UNSERVED)
    args: list[Any] = writer.args
    assert len(args) >= found.own
    del args[len(args) - found.own :]
    offset = len(args)
    args.extend(found.args)

    def renumbered(text: str) -> str:
        return _PARAMETER.sub(lambda n: f"${int(n[1]) + offset}", text)

    return [replace(c, sql=renumbered(c.sql)) for c in found.counted], renumbered(found.text)
