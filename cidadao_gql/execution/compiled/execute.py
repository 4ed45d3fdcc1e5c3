"""Running plans level by level (see the package docstring)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import operator
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from graphql import GraphQLString
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from cidadao_gql import metrics
from cidadao_gql.errors import Fallback
from cidadao_gql.execution.compiled import lookups, sources
from cidadao_gql.execution.compiled.plan import Plan, Planner, Price
from cidadao_gql.execution.compiled.selection import Batch, FieldPlan, Selection, Shape
from cidadao_gql.execution.compiled.variables import coerced
from cidadao_gql.execution.costs import rows_cost

log = logging.getLogger("cidadao_gql.compiled")
# For map(): which values are null, by identity in C (list.count(None) would call each
# object's __eq__, a Python call for a dataclass).
_is_none = partial(operator.is_, None)


class _Load:
    """One call of a loader's batch function: the keys that levels running side by side ask
    for before it goes out, and `done`, set to None or to what the call raised."""

    __slots__ = ("done", "keys")

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()


class _Run:
    """One execution: what every level needs, and the actual cost as it adds up."""

    __slots__ = (
        "chosen", "cost", "forward", "info", "loads", "open", "price", "rows", "shared",
        "variables",
    )  # fmt: skip

    def __init__(
        self,
        info: _Info,
        variables: VariableValues,
        price: Price,
        shared: frozenset[str],
        forward: bool,
    ) -> None:
        self.info = info
        self.forward = forward  # JSON PostgreSQL wrote goes out as it is (orjson.Fragment)
        self.shared = shared  # loaders whose loads levels side by side may share
        self.variables = variables
        self.price = price
        self.cost = 0
        self.rows: dict[str, dict[Any, Any]] = {}  # by loader: what it loaded, by key
        self.loads: dict[str, dict[Any, _Load]] = {}  # by loader: the load of each key asked
        self.open: dict[str, _Load] = {}  # by loader: the load not sent yet
        self.chosen: sources.Chosen | None = None  # root pages' reads (sources)

    def weight(self, plan: FieldPlan) -> int:
        weights = self.price.weights
        found = weights.get(id(plan))
        if found is None:
            assert plan.parent is not None
            found = weights[id(plan)] = self.price.weigh(plan.parent, plan)
        return found

    def each(self, plan: FieldPlan) -> int:
        """The row weight of the list `plan` answers (costs.rows_cost)."""
        rows = self.price.rows
        found = rows.get(id(plan))
        if found is None:
            assert plan.parent is not None
            found = rows[id(plan)] = self.price.each(plan.parent, plan)
        return found


class _Info:
    """What our resolvers read of `info`: the context (see resolvers: `info.context`), and
    for a connection, the columns its nodes read (see relay.columns_of)."""

    __slots__ = ("columns", "context", "field_name", "path")

    def __init__(self, context: Any, columns: frozenset[str] | None = None) -> None:
        self.context = context
        self.field_name = ""
        self.path = None
        self.columns = columns


class Executor:
    """Runs plans; `execute` answers None when the ordinary path must run instead."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    def prepare(
        self, query: str, variable_values: dict[str, Any] | None, operation_name: str | None
    ) -> tuple[Plan, VariableValues] | None:
        """The plan and coerced variables of a query, or None for the ordinary path."""
        found = self.planner.operation(query, operation_name)
        if found is None:
            return None
        operation, signatures = found
        variables = coerced(signatures, variable_values or {})
        if variables is None:  # they do not coerce (or a default): graphql-core's own
            errors = get_variable_values(
                self.planner.schema, operation.variable_definitions or (), variable_values or {}
            )
            if isinstance(errors, list):  # the ordinary path says why
                return None
            variables = errors
        plan = self.planner.plan(query, operation_name, variables)
        return None if plan is None else (plan, variables)

    async def run(
        self,
        plan: Plan,
        variables: VariableValues,
        context: Any,
        price: Price,
        forward: bool = False,
    ) -> tuple[dict[str, Any], int] | None:
        """The response's data and its actual cost (each non-null field's weight, as
        `price` weighs it: the cost analysis' own), or None when the ordinary path must
        answer instead. With `forward`, what one statement answers is left as the JSON
        PostgreSQL wrote (orjson.Fragment): for a caller that encodes it with orjson."""
        data: dict[str, Any] = {}
        run = _Run(_Info(context), variables, price, plan.shared, forward)
        try:
            done = await _one_statement(plan.root, run)
            rest = plan.root if not done else Selection(p for p in plan.root if p.key not in done)
            if rest:
                if rest is not plan.root:
                    rest.settle()
                await self._level(rest, [None], [data], run)
        except Fallback as reason:
            log.debug("compiled execution fell back: %r", reason.__cause__)
            return None
        if done:
            data = {p.key: done[p.key] if p.key in done else data[p.key] for p in plan.root}
        return data, run.cost

    # One function of 160 lines on purpose: it is the compiled path's inner loop, run once
    # per selection level, and the compiled path exists for the CPU graphql-core spent on
    # its layers of calls per field (about 18 ms of the 100-row nested page, 6 ms of the
    # flat one; README, "Uncached GraphQL"). Its branches share the level's pending loads
    # (`awaiting`, `finish`) and values (`resolved`, `objects`); split into helpers, they
    # would pass those on every field of every level.
    async def _level(
        self,
        fields: Selection,
        parents: list[Any],
        outs: list[dict[str, Any]],
        run: _Run,
    ) -> None:
        info, variables = run.info, run.variables
        if fields.fill is not None:  # generated for this selection: leaves straight from rows
            try:
                fields.fill(parents, outs)
            except Fallback:
                raise
            except Exception as exc:
                raise Fallback from exc
        filled = fields.filled
        if fields.fill is None:
            for out in outs:  # keys in field order, whatever order values arrive in
                for plan in fields:
                    out[plan.key] = None
        resolved: list[list[Any]] = [[] for _ in fields]
        awaiting: list[Awaitable[Any]] = []
        finish: list[Callable[[Any], None]] = []
        objects: list[Any] | None = None  # the parents' objects, when rows must become them
        for index, plan in enumerate(fields):
            if plan.definition is None or index in filled:  # __typename, or done
                continue
            if plan.read is not None:
                try:
                    resolved[index] = plan.read(parents)
                except Fallback:
                    raise
                except Exception as exc:
                    raise Fallback from exc
            elif plan.batch is not None:
                awaiting.append(self._batch(plan, plan.batch, parents, run))
                finish.append(partial(resolved.__setitem__, index))
            elif plan.gather is not None:  # pages of children and their counts
                awaiting.append(plan.gather(plan, parents, run))
                finish.append(partial(resolved.__setitem__, index))
            else:
                try:  # an explicit null for an argument with a default, say: a field error
                    arguments = (
                        get_argument_values(plan.definition, plan.details[0].node, variables)
                        if plan.definition.args
                        else {}
                    )
                except Exception as exc:
                    raise Fallback from exc
                resolve = plan.definition.resolve
                assert resolve is not None
                sources = parents
                if plan.build is not None:
                    if objects is None:
                        objects = [plan.build(p) for p in parents]
                    sources = objects
                told = info if plan.columns is None else _Info(info.context, plan.columns)
                try:
                    values = [resolve(p, told, **arguments) for p in sources]
                except Exception as exc:
                    raise Fallback from exc
                if values and inspect.isawaitable(values[0]):
                    awaiting.append(_all(values))
                    finish.append(partial(resolved.__setitem__, index))
                else:
                    resolved[index] = values
        if len(awaiting) == 1:  # no task for a lone load (cancellation still propagates)
            try:
                finish[0](await awaiting[0])
            except Exception as exc:
                raise Fallback from exc
        elif awaiting:
            for done, result in zip(
                finish, await asyncio.gather(*awaiting, return_exceptions=True), strict=True
            ):
                if isinstance(result, BaseException):
                    raise Fallback from result
                done(result)
        deeper: list[tuple[Selection, list[Any], list[dict[str, Any]]]] = []
        for index, (plan, values) in enumerate(zip(fields, resolved, strict=True)):
            if index in filled:
                weight = run.weight(plan) if plan.definition is not None else 0
                if weight:
                    assert plan.shape is not None
                    key = plan.key
                    present = (
                        sum(1 for out in outs if out[key] is not None)
                        if plan.shape.nullable
                        else len(outs)  # a filled non-null field is never null (see _null)
                    )
                    run.cost += weight * present
                continue
            if plan.definition is None:
                for out in outs:
                    out[plan.key] = plan.typename
                continue
            shape = plan.shape
            assert shape is not None
            key = plan.key
            weight = run.weight(plan)
            if weight:
                run.cost += weight * (len(values) - sum(map(_is_none, values)))
            if shape.leaf is not None:  # the common cases, inline: a scalar...
                coerce = plan.coerce or shape.leaf.coerce_output_value
                strings = shape.leaf is GraphQLString  # a str is its own output
                for value, out in zip(values, outs, strict=True):
                    if value is None:
                        if not shape.nullable:
                            raise Fallback  # null in a non-null field
                    elif strings and type(value) is str:
                        out[key] = value
                    else:
                        out[key] = coerce(value)
            elif shape.object_type is not None:  # ... and one object
                assert plan.children is not None
                children, children_out = [], []
                for value, out in zip(values, outs, strict=True):
                    if value is None:
                        if not shape.nullable:
                            raise Fallback
                    else:
                        child: dict[str, Any] = {}
                        out[key] = child
                        children.append(value)
                        children_out.append(child)
                deeper.append((plan.children, children, children_out))
            elif (item := shape.list_of) is not None and item.object_type is not None:
                # ... and a list of objects (a page's edges): one level for all of them. (The
                # twin of the branch above, kept inline: this loop runs for every row.)
                assert plan.children is not None
                children, children_out = [], []
                each = run.each(plan)
                for value, out in zip(values, outs, strict=True):
                    if value is None:
                        if not shape.nullable:
                            raise Fallback
                        continue
                    if each:  # its rows, a point per ROWS_PER_POINT, rounded up per list
                        run.cost += rows_cost(each, len(value) - sum(map(_is_none, value)))
                    listed: list[dict[str, Any] | None] = []
                    for element in value:
                        if element is None:
                            if not item.nullable:
                                raise Fallback
                            listed.append(None)
                            continue
                        child = {}
                        listed.append(child)
                        children.append(element)
                        children_out.append(child)
                    out[key] = listed
                deeper.append((plan.children, children, children_out))
            else:
                for value, out in zip(values, outs, strict=True):
                    out[key] = self._complete(plan, shape, value, deeper)
        if deeper:
            # Levels that load nothing finish without suspending: run in place, they need no
            # task of their own; the others run side by side, when there are several.
            loading = []
            for fields, parents, outs in _grouped(deeper):
                if fields.loads:
                    loading.append(self._level(fields, parents, outs, run))
                else:
                    await self._level(fields, parents, outs, run)
            if len(loading) == 1:
                await loading[0]
            elif loading:
                await asyncio.gather(*loading)

    @staticmethod
    async def _batch(plan: FieldPlan, batch: Batch, parents: list[Any], run: _Run) -> list[Any]:
        """One load of the relation for every parent of the level: the keys this run has
        not asked for yet go to the loader's batch function (through the cache tiers, as the
        resolvers' loads go) in one call, shared with the levels running side by side (two
        aliases of one connection, say: their suppliers in one statement). Keys are
        remembered per run rather than in the loader's own cache, which would cost a future
        per key: one future per call here."""
        if plan.build is not None:  # parents are rows: the key is a column
            keys = [p[batch.key] for p in parents]
        else:
            keys = [getattr(p, batch.key) for p in parents]
        name = batch.loader
        rows = run.rows.get(name)
        if rows is None:
            rows = run.rows[name] = {}
            run.loads[name] = {}
        loads = run.loads[name]
        missing = [key for key in dict.fromkeys(keys) if key is not None and key not in loads]
        if missing:
            load = run.open.get(name)
            if load is None:  # the first to ask sends it, the others add their keys
                load = run.open[name] = _Load()
                load.keys.extend(missing)
                loads.update(dict.fromkeys(missing, load))
                await _send(load, name, run)
            else:
                load.keys.extend(missing)
                loads.update(dict.fromkeys(missing, load))
        for load in dict.fromkeys(loads[key] for key in keys if key is not None):
            failed = await load.done
            if isinstance(failed, asyncio.CancelledError):
                raise asyncio.CancelledError  # the operation timed out: not a fallback
            if failed is not None:
                raise Fallback from failed
        values = [rows.get(key) for key in keys]  # None for a None key
        if None in values and not (plan.shape is not None and plan.shape.nullable):
            for key, value in zip(keys, values, strict=True):
                if key is not None and value is None:
                    raise Fallback  # a required row missing: the resolver raises, so must we
        build = batch.build
        if build is None:
            return values
        return [None if row is None else build(row) for row in values]

    def _complete(
        self,
        plan: FieldPlan,
        shape: Shape,
        value: Any,
        deeper: list[tuple[Selection, list[Any], list[dict[str, Any]]]],
    ) -> Any:
        if value is None:
            if shape.nullable:
                return None
            raise Fallback  # null in a non-null field: the ordinary path propagates it
        if shape.leaf is not None:
            coerced = shape.leaf.coerce_output_value(value)
            if coerced is None:
                raise Fallback
            return coerced
        if shape.list_of is not None:
            if shape.list_of.leaf is None:  # objects (of an abstract type): not priced here
                raise Fallback
            return [self._complete(plan, shape.list_of, item, deeper) for item in value]
        if shape.object_type is not None:
            children = plan.children
        else:
            name = self.planner.types_by_class.get(type(value))
            children = plan.by_runtime_type.get(name) if name else None
        if children is None:
            raise Fallback
        out: dict[str, Any] = {}
        deeper.append((children, [value], [out]))
        return out


async def _one_statement(root: Selection, run: _Run) -> dict[str, Any]:
    """The root fields that one statement answers (tree, lookups), by key, with their cost added; the
    others are left to the levels."""
    plans = []
    for plan in root:
        if plan.levels is None:
            plans.append(plan)
        elif plan.definition is not None:
            metrics.COMPILED_FIELDS.labels("levels", plan.levels).inc()
    if not plans:
        return {}
    loaders = run.info.context.loaders
    # Written once per plan and set of variables (the Price's), as pages' arguments are;
    # root pages' reads chosen by the data layer, kept while the data holds (sources).
    for _ in range(2):  # a kept choice the data has moved past: answered again, chosen anew
        written = await sources.written(plans, run, id(root), lookups.statement_of)
        if isinstance(written, str) or (written[2] and loaders.caches_rows):
            # rows by id (relations) go through the cache tiers when they are on
            why = written if isinstance(written, str) else "field cache"
            metrics.COMPILED_FIELDS.labels("levels", why).inc(len(plans))
            return {}
        text, args, _, left = written
        kept = [plan for plan in plans if plan.key not in left]  # the others: to the levels
        try:
            row = await loaders.db.fetchrow(text, *args)
        except Exception as exc:  # (cancelled: the operation timed out; not a fallback)
            raise Fallback from exc
        assert row is not None
        if sources.settled(run, id(root), row, 2 * len(kept)):
            break
    for why in left.values():  # each for its own reason; the others in the statement
        metrics.COMPILED_FIELDS.labels("levels", why).inc()
    plans = kept
    done = {}
    for index, plan in enumerate(plans):
        json, cost = row[2 * index], row[2 * index + 1]
        # Forwarded, its bytes are the response's (tree: orjson's own JSON)
        done[plan.key] = orjson.Fragment(json) if run.forward else orjson.loads(json)
        run.cost += cost + (run.weight(plan) if json != b"null" else 0)  # node(id:): null
    metrics.STATEMENT_FIELDS.inc(len(plans))
    return done


async def _send(load: _Load, name: str, run: _Run) -> None:
    """A load, once the levels running side by side have had a turn to add their keys (when
    another relation of the plan loads through the same loader)."""
    failed: BaseException | None = None
    try:
        if name in run.shared:
            await asyncio.sleep(0)
        _close(load, name, run)
        found = await run.info.context.loaders.batch(name)(load.keys)
        run.rows[name].update(zip(load.keys, found, strict=True))
    except BaseException as exc:  # told to the waiting levels by `done`, never lost
        failed = exc
        if not isinstance(exc, Exception):
            raise
    finally:
        _close(load, name, run)
        load.done.set_result(failed)


def _close(load: _Load, name: str, run: _Run) -> None:
    """No more keys for `load`: the next level to ask opens a load of its own."""
    if run.open.get(name) is load:
        del run.open[name]


async def _all(awaitables: list[Any]) -> list[Any]:
    if len(awaitables) == 1:  # a root field's one parent: no task for it
        return [await awaitables[0]]
    return list(await asyncio.gather(*awaitables))


def _grouped(
    deeper: list[tuple[Selection, list[Any], list[dict[str, Any]]]],
) -> list[tuple[Selection, list[Any], list[dict[str, Any]]]]:
    """Objects of the same selection, across all parents, as one level (one batch)."""
    groups: dict[int, tuple[Selection, list[Any], list[dict[str, Any]]]] = {}
    for fields, parents, outs in deeper:
        group = groups.get(id(fields))
        if group is None:
            groups[id(fields)] = (fields, list(parents), list(outs))
        else:
            group[1].extend(parents)
            group[2].extend(outs)
    return list(groups.values())
