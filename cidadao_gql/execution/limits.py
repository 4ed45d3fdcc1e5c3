"""Limits on what one operation may ask for: depth, fields and aliases (validation rules,
built once per schema so the validation cache keeps working), and cost (checked in execution,
since `first: $n` needs the variables, before any resolver runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    ValidationRule,
)
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension

from cidadao_gql import metrics
from cidadao_gql.data.ratelimit import Allowance, Spend, retry_after_header
from cidadao_gql.errors import (
    QueryRejected,
    QueryTooComplex,
    QueryTooDeep,
    Throttled,
    TooManyAliases,
    TooManyFields,
)
from cidadao_gql.execution.costs import CostAnalysis
from cidadao_gql.execution.expansion import Expansion, schema_fields
from cidadao_gql.schema.relay import BULK_PAGE, MAX_PAGE, page_limit
from cidadao_gql.schema.strawberry_internals import OperationType, graphql_schema


def depth_limit(max_depth: int) -> type[ValidationRule]:
    class DepthLimit(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.expansion = Expansion(context.document)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = self.expansion.of(node).depth
            if depth > max_depth:
                name = node.name.value if node.name else "the operation"
                message = f"{name} is {depth} levels deep; the limit is {max_depth}"
                error = QueryTooDeep(message, depth=depth, maxDepth=max_depth)
                self.report_error(rejection(error, node))

    return DepthLimit


# What graphql-core's OverlappingFieldsCanBeMerged compares grows with the square of
# these (every pair of same-named fields; every selection set with every fragment it
# reaches), so they are refused before it runs. Documents that GraphiQL and codegen send
# repeat a response name a handful of times at most (the same field in a few fragments)
# and reach a few dozen fragments; 1,995 `__typename` took the rule a second to refuse.
MAX_REPEATS = 50
MAX_FRAGMENTS_REACHED = 30
# `__schema` is priced by running it (costs.py): four aliased copies of a deep one kept a
# worker busy for a second before the price refused them. GraphiQL asks for it once.
MAX_SCHEMA_FIELDS = 1
# What bounds the rule's work where no single number of a selection set shows it (a field
# repeated 40 times, each time selecting 40 same-named fields, is 1,600 fields at one
# response path): graphql-core's own budget, 500,000 units by default (a second of work),
# lowered to what our limits let through. error_codes codes its rejection TOO_MANY_FIELDS.
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = 50_000


def field_limit(
    max_fields: int,
    max_repeats: int = MAX_REPEATS,
    max_fragments: int = MAX_FRAGMENTS_REACHED,
) -> type[ValidationRule]:
    """Refuses an operation that selects more than `max_fields` fields once its fragments
    are spread in (and a fragment that does, used or not: the rules check each fragment
    on its own), or whose selection sets would keep OverlappingFieldsCanBeMerged busy
    (MAX_REPEATS, MAX_FRAGMENTS_REACHED), and stops validation there: what graphql-core's
    rules and our cost analysis do grows with these numbers, so none of it runs."""

    class FieldLimit(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            expansion = Expansion(node)
            operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
            for definition in node.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    fields = expansion.of(definition).fields
                elif isinstance(definition, FragmentDefinitionNode):
                    fields = expansion.fragment(definition.name.value).fields
                else:
                    continue
                if fields > max_fields:
                    raise _too_many(
                        f"{_name(definition)} selects {fields} fields once its fragments"
                        f" are spread in; the limit is {max_fields}",
                        definition,
                        fields=fields,
                        maxFields=max_fields,
                    )
            asked = schema_fields(node)
            if asked > MAX_SCHEMA_FIELDS:
                raise _too_many(
                    f"the document asks for `__schema` {asked} times; the limit is"
                    f" {MAX_SCHEMA_FIELDS}",
                    None,
                    schemaFields=asked,
                    maxSchemaFields=MAX_SCHEMA_FIELDS,
                )
            overlap = expansion.overlap(operations)
            if overlap.repeats > max_repeats:
                raise _too_many(
                    f"one selection set names `{overlap.name}` {overlap.repeats} times once"
                    f" its fragments are spread in; the limit is {max_repeats}",
                    None,
                    responseName=overlap.name,
                    repeats=overlap.repeats,
                    maxRepeats=max_repeats,
                )
            if overlap.fragments > max_fragments:
                raise _too_many(
                    f"one selection set reaches {overlap.fragments} fragments through its"
                    f" spreads; the limit is {max_fragments}",
                    None,
                    fragments=overlap.fragments,
                    maxFragments=max_fragments,
                )

    return FieldLimit


def _name(definition: OperationDefinitionNode | FragmentDefinitionNode) -> str:
    if isinstance(definition, FragmentDefinitionNode):
        return f"fragment {definition.name.value}"
    return definition.name.value if definition.name else "the operation"


def _too_many(message: str, node: Any, **details: Any) -> ValidationAbortedError:
    error = TooManyFields(message, **details)
    return ValidationAbortedError(message, node, original_error=error, extensions=error.extensions)


def rejection(error: QueryRejected, node: Any = None) -> GraphQLError:
    """A validation rule's error for one of our limits: coded by the exception it carries."""
    return GraphQLError(error.message, node, original_error=error, extensions=error.extensions)


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
                message = f"the document uses {self.aliases} aliases; the limit is {max_aliases}"
                error = TooManyAliases(message, aliases=self.aliases, maxAliases=max_aliases)
                self.report_error(rejection(error))

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
        spend: Spend = await limiter.spend(
            self.context.client, self.requested, read_only=read_only, allowance=self._allowance()
        )
        self.cost["throttleStatus"] = spend.status.as_extension()
        return spend

    async def settle(self, actual: int) -> None:
        """Record the actual cost and give back what was charged beyond it."""
        self.cost["actualQueryCost"] = actual
        limiter = self.context.limiter
        if limiter is not None and self.requested > actual:
            status = await limiter.refund(
                self.context.client, self.requested - actual, self._allowance()
            )
            self.cost["throttleStatus"] = status.as_extension()

    def _allowance(self) -> Allowance | None:
        """The bucket of the key the operation came with, when that key has its own."""
        user = self.context.user
        return None if user is None else user.allowance


def _allowance_of(context: Any) -> Allowance | None:
    """The allowance of a bulk key (an API key with a bucket of its own), or None."""
    user = getattr(context, "user", None)
    return user.allowance if user is not None and user.bulk else None


def max_cost_of(context: Any, max_cost: int) -> int:
    """The cost limit of the operation's caller: a bulk key's operations may cost as many
    times `max_cost` as its pages may hold rows (pages_for), up to what its bucket holds
    (a price it could never pay is refused, not throttled for ever)."""
    allowance = _allowance_of(context)
    if allowance is None:
        return max_cost
    return min(max_cost * (BULK_PAGE // MAX_PAGE), int(allowance.capacity))


def pages_for(context: Any) -> AbstractContextManager[None]:
    """The page limit of the operation's caller, for what runs inside: BULK_PAGE rows for
    a bulk key, MAX_PAGE for everyone else. (Not an async context manager of its own: one
    more generator and coroutines on every operation, for nothing to await.)"""
    return page_limit(MAX_PAGE if _allowance_of(context) is None else BULK_PAGE)


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
            graphql_schema(execution.schema),
            execution.graphql_document,
            execution.operation_name,
            execution.variables,
        )
        requested = analysis.requested()
        bill = Bill(context, requested)
        self.cost = bill.cost
        max_cost = max_cost_of(context, self.max_cost)
        if requested > max_cost:
            metrics.QUERY_REJECTIONS.labels("QUERY_TOO_COMPLEX").inc()
            raise QueryTooComplex(
                f"this operation costs {requested} points; the limit is {max_cost}: lower"
                " `first` on the largest lists (nested lists multiply), or ask for fewer",
                cost=requested,
                maxCost=max_cost,
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
