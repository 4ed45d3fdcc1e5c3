"""Limits on what one operation may ask for: depth and aliases (validation rules, built
once per schema so the validation cache keeps working), and cost (checked in execution,
since `first: $n` needs the variables, before any resolver runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from cidadao_gql import metrics
from cidadao_gql.errors import QueryTooComplex, Throttled
from cidadao_gql.ratelimit import Spend, retry_after_header
from cidadao_gql.schema.costs import CostAnalysis


def _depth(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    level: int,
    spreading: frozenset[str],
) -> int:
    """Depth of the deepest field below, counted as graphql-depth-limit does: root fields
    are at 0, fragments add nothing, and `__`-prefixed fields (introspection) are left out
    with all they select; cost bounds those."""
    deepest = level - 1
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            if node.name.value.startswith("__"):
                continue
            below = level
            if node.selection_set is not None:
                below = max(level, _depth(node.selection_set, fragments, level + 1, spreading))
            deepest = max(deepest, below)
        elif isinstance(node, InlineFragmentNode):
            deepest = max(deepest, _depth(node.selection_set, fragments, level, spreading))
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in fragments and name not in spreading:  # cycles are another rule's error
                inner = fragments[name].selection_set
                deepest = max(deepest, _depth(inner, fragments, level, spreading | {name}))
    return deepest


def depth_limit(max_depth: int) -> type[ValidationRule]:
    class DepthLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            depth = _depth(node.selection_set, fragments, 0, frozenset())
            if depth > max_depth:
                name = node.name.value if node.name else "the operation"
                self.report_error(
                    GraphQLError(
                        f"{name} is {depth} levels deep; the limit is {max_depth}",
                        node,
                        extensions={
                            "code": "QUERY_TOO_DEEP",
                            "depth": depth,
                            "maxDepth": max_depth,
                        },
                    )
                )

    return DepthLimit


def alias_limit(max_aliases: int) -> type[ValidationRule]:
    class AliasLimit(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.aliases = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, *_: Any) -> None:
            if self.aliases > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"the document uses {self.aliases} aliases; the limit is {max_aliases}",
                        extensions={
                            "code": "TOO_MANY_ALIASES",
                            "aliases": self.aliases,
                            "maxAliases": max_aliases,
                        },
                    )
                )

    return AliasLimit


class Bill:
    """What one operation costs its client: the `extensions.cost` it reports (set on the
    context at once, so that a timeout still reports the price), the points taken from the
    client's bucket, and the refund of what the answer did not use. Both executors use it."""

    def __init__(self, context: Any, requested: int) -> None:
        self.context = context
        self.requested = requested
        self.cost: dict[str, Any] = {
            "requestedQueryCost": requested,
            "actualQueryCost": 0,
            "throttleStatus": None,
        }
        context.cost = self.cost

    async def charge(self, *, read_only: bool) -> Spend | None:
        """Take the price from the client's bucket; None when there is no limiter."""
        limiter = self.context.limiter
        if limiter is None:
            return None
        spend: Spend = await limiter.spend(self.context.client, self.requested, read_only=read_only)
        self.cost["throttleStatus"] = spend.status.as_extension()
        return spend

    async def settle(self, actual: int) -> None:
        """Record the actual cost and give back what was charged beyond it."""
        self.cost["actualQueryCost"] = actual
        limiter = self.context.limiter
        if limiter is not None and self.requested > actual:
            status = await limiter.refund(self.context.client, self.requested - actual)
            self.cost["throttleStatus"] = status.as_extension()


class CostLimit(SchemaExtension):
    """Prices the operation before execution, refuses it over `max_cost`, spends the price
    from the client's bucket (refunding what the response did not use), and reports all of
    it as `extensions.cost`."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost
        self.cost: dict[str, Any] = {}  # this operation's; a batch shares one context

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        assert execution.graphql_document is not None
        analysis = CostAnalysis(
            execution.schema._schema,
            execution.graphql_document,
            execution.operation_name,
            execution.variables,
        )
        requested = analysis.requested()
        bill = Bill(context, requested)
        self.cost = bill.cost
        if requested > self.max_cost:
            metrics.QUERY_REJECTIONS.labels("QUERY_TOO_COMPLEX").inc()
            raise QueryTooComplex(
                f"this operation costs {requested} points; the limit is {self.max_cost}",
                cost=requested,
                maxCost=self.max_cost,
            )
        spend = await bill.charge(read_only=execution.operation_type is OperationType.QUERY)
        if spend is not None and not spend.allowed:
            self._throttle(context, requested, spend.retry_after(requested))
        yield
        result = execution.result
        await bill.settle(analysis.actual(result.data if result is not None else None))

    def _throttle(self, context: Any, requested: int, retry_after: float) -> None:
        metrics.QUERY_REJECTIONS.labels("THROTTLED").inc()
        if context.response is not None:
            context.response.status_code = 429
            context.response.headers["retry-after"] = retry_after_header(retry_after)
        raise Throttled(
            f"this operation costs {requested} points and the client's bucket holds fewer;"
            f" retry in {retry_after:.1f} s",
            retry_after=round(retry_after, 3),
            cost=requested,
        )

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.cost} if self.cost else {}
