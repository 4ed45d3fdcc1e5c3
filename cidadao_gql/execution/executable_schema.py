"""The GraphQL schema, composed from one module per domain area, with its extensions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import AbstractContextManager, aclosing, nullcontext
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from cidadao_gql import metrics
from cidadao_gql.errors import CidadaoError, QueryTimeout
from cidadao_gql.execution import compiled
from cidadao_gql.execution.costs import CostAnalysis
from cidadao_gql.execution.error_codes import code_error
from cidadao_gql.execution.limits import (
    Bill,
    CostLimit,
    alias_limit,
    depth_limit,
    field_limit,
    max_cost_of,
    pages_for,
)
from cidadao_gql.schema.agencies import Agency, AgencyFilter, AgencyQueries
from cidadao_gql.schema.contracts import Contract, ContractFilter, ContractQueries
from cidadao_gql.schema.cost_tables import apply_cost_directives
from cidadao_gql.schema.descriptions import describe
from cidadao_gql.schema.inputs import DATE, DATETIME, DECIMAL, StorableStrings, unstorable_variable
from cidadao_gql.schema.investigations import (
    Investigation,
    InvestigationEvents,
    InvestigationFinding,
    InvestigationMutations,
    InvestigationQueries,
    InvestigationSubscriptions,
)
from cidadao_gql.schema.node import NodeQueries
from cidadao_gql.schema.prices import (
    AwardFilter,
    ItemFilter,
    PriceQueries,
    UnitPriceFilter,
    UnitPriceSummary,
)
from cidadao_gql.schema.procurements import (
    Award,
    Item,
    Procurement,
    ProcurementFilter,
    ProcurementQueries,
)
from cidadao_gql.schema.relay import Connection, largest_page
from cidadao_gql.schema.sanctions import Sanction, SanctionQueries
from cidadao_gql.schema.spending import SpendingConnection, SpendingQueries
from cidadao_gql.schema.strawberry_internals import (
    OperationType,
    PreExecutionError,
    StreamResult,
    argument_converter,
    classes_of,
    graphql_schema,
    patch_is_one_of,
)
from cidadao_gql.schema.suppliers import Supplier, SupplierFilter, SupplierQueries
from cidadao_gql.schema.viewer import ViewerQueries
from cidadao_gql.settings import Settings


@strawberry.type(description="Public procurement data: who sold what to whom, for how much.")
class Query(
    NodeQueries,
    AgencyQueries,
    SupplierQueries,
    ProcurementQueries,
    ContractQueries,
    SanctionQueries,
    SpendingQueries,
    PriceQueries,
    ViewerQueries,
    InvestigationQueries,
):
    pass


@strawberry.type(description="Changes: investigations are started and cancelled here.")
class Mutation(InvestigationMutations):
    pass


@strawberry.type(description="Live events, over WebSocket (graphql-transport-ws).")
class Subscription(InvestigationSubscriptions):
    pass


class PersistedQueries(SchemaExtension):
    """Puts a persisted query's document in place (data.persisted finds it) before
    Strawberry parses the request."""

    async def on_operation(self) -> AsyncIterator[None]:
        execution = self.execution_context
        documents = getattr(execution.context, "persisted", None)
        if documents is not None:
            execution.query = await documents.resolve(
                execution.query, execution.operation_extensions
            )
        yield


class Schema(strawberry.Schema):
    """Our schema: errors coded, operations bounded in time, cost in every response."""

    def __init__(
        self, settings: Settings, rules: list[type[ASTValidationRule]], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        patch_is_one_of(graphql_schema(self))
        self.settings = settings
        self.timeout = settings.query_timeout_ms / 1000
        self.max_cost = settings.max_query_cost
        self.tracing = settings.otel_endpoint is not None
        # Trusted-documents mode checks every document in the PersistedQueries extension,
        # which only the ordinary path runs.
        self.compiled: compiled.Executor | None = None
        if settings.executor == "compiled" and not settings.persisted_queries_only:
            planner = compiled.Planner(
                graphql_schema(self), rules, settings.max_tokens, classes_of(self),
                argument_converter(self),
            )  # fmt: skip
            self.compiled = compiled.Executor(planner)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """strawberry.Schema.execute, every parameter passed on by name
        (strawberry_internals.EXECUTE_PARAMETERS: a test checks they are still these)."""
        context = context_value
        refused = _refused(variable_values)
        if refused is not None:
            return self._finish(refused, context)
        try:
            async with asyncio.timeout(self.timeout):
                with pages_for(context):
                    result = None
                    compilable = (
                        query is not None and root_value is None and not operation_extensions
                    )
                    if self.compiled is not None and compilable:
                        assert query is not None
                        with self._span(operation_name):
                            result = await self._execute_compiled(
                                query, variable_values, operation_name, context
                            )
                    if result is None:
                        metrics.EXECUTION_PATH.labels("ordinary").inc()
                        result = await super().execute(
                            query,
                            variable_values=variable_values,
                            context_value=context_value,
                            root_value=root_value,
                            operation_name=operation_name,
                            allowed_operation_types=allowed_operation_types,
                            operation_extensions=operation_extensions,
                        )
        except TimeoutError:
            result = self._timed_out()
        return self._finish(result, context)

    async def execute_compiled(
        self,
        query: str,
        variable_values: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        forward: bool = False,
    ) -> ExecutionResult | None:
        """The operation on the compiled path alone, finished as `execute` finishes it; None
        (with nothing charged) when only the ordinary path can answer it. For callers that
        can skip the view's own request handling when this answers. With `forward`, the
        data may hold JSON PostgreSQL wrote, as orjson.Fragment: for a caller that encodes
        it with orjson (compiled.Executor.run)."""
        if self.compiled is None:
            return None
        if unstorable_variable(variable_values) is not None:
            return None  # `execute` refuses them, as the view answers
        try:
            async with asyncio.timeout(self.timeout):
                with pages_for(context), self._span(operation_name):
                    result = await self._execute_compiled(
                        query, variable_values, operation_name, context, forward
                    )
        except TimeoutError:
            result = self._timed_out()
        return None if result is None else self._finish(result, context)

    def _timed_out(self) -> ExecutionResult:
        # Cancelling the execution cancelled its statements too (asyncpg sends a cancel).
        error = QueryTimeout(
            f"the operation ran longer than {self.timeout * 1000:.0f} ms",
            timeoutMs=round(self.timeout * 1000),
        )
        return ExecutionResult(
            data=None, errors=[GraphQLError(error.message, original_error=error)]
        )

    def _finish(self, result: ExecutionResult, context: Any) -> ExecutionResult:
        """Errors coded and counted, cost spent and reported: the same on every path."""
        request_id = getattr(context, "request_id", None)
        if result.errors:
            result.errors = [code_error(e, request_id) for e in result.errors]
            for coded in result.errors:
                metrics.ERRORS.labels((coded.extensions or {}).get("code", "UNKNOWN")).inc()
        cost = (result.extensions or {}).get("cost") or getattr(context, "cost", None)
        cost = cost or _UNPRICED
        metrics.COST_SPENT.inc(cost.get("actualQueryCost") or 0)
        result.extensions = {"cost": cost, **(result.extensions or {})}
        return result

    def _span(self, operation_name: str | None) -> AbstractContextManager[Any]:
        """With tracing on, the compiled path's operation span, named as Strawberry's
        extension names the ordinary path's; the SQL spans nest under it."""
        if not self.tracing:
            return nullcontext()
        from opentelemetry import trace

        name = f"GraphQL Query: {operation_name}" if operation_name else "GraphQL Query"
        span = trace.get_tracer("cidadao_gql").start_as_current_span(
            name,
            kind=trace.SpanKind.SERVER,
            attributes={"component": "graphql", "graphql.path": "compiled"},
        )
        return span

    async def _execute_compiled(
        self,
        query: str,
        raw_variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        forward: bool = False,
    ) -> ExecutionResult | None:
        """The operation on the compiled path, priced and charged as CostLimit does; None
        when the ordinary path must answer (nothing is left charged then)."""
        assert self.compiled is not None
        prepared = self.compiled.prepare(query, raw_variables, operation_name)
        if prepared is None:
            return None
        plan, variables = prepared
        try:
            # the page limit too: a bulk key's price of the same operation is its own
            key = orjson.dumps([largest_page(), raw_variables], option=orjson.OPT_SORT_KEYS)
        except TypeError:  # not JSON (an in-process caller's own values): priced afresh
            key = None

        def price() -> compiled.Price:
            analysis = CostAnalysis(
                graphql_schema(self), plan.document, operation_name, raw_variables
            )
            return compiled.Price(analysis.requested(), analysis.weigh, analysis.each)

        priced = price() if key is None else plan.price(key, price)
        if priced.requested > max_cost_of(context, self.max_cost):
            return None  # the ordinary path refuses it, with the numbers
        bill = Bill(context, priced.requested)
        spend = await bill.charge(read_only=True)
        if spend is not None and not spend.allowed:
            return None  # nothing was taken; the ordinary path answers THROTTLED
        done = await self.compiled.run(plan, variables, context, priced, forward)
        if done is None:
            metrics.EXECUTION_PATH.labels("fallback").inc()
            await bill.settle(0)  # all of it back: the ordinary path charges again
            context.cost = {}
            return None
        metrics.COMPILED_OPERATIONS.inc()
        data, actual = done
        await bill.settle(actual)
        # Its own cost, not the context's: a batch's operations run side by side on one
        # context, and each would report the last one's.
        return ExecutionResult(data=data, errors=None, extensions={"cost": bill.cost})

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """Subscriptions (and operations sent over WebSocket): every result coded as
        `execute` codes them."""
        refused = _refused(variable_values)
        if refused is not None:
            source: StreamResult = _once(PreExecutionError(data=None, errors=refused.errors))
        else:
            source = await super().stream(
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                operation_extensions=operation_extensions,
                allowed_operation_types=allowed_operation_types,
            )
        return self._coded(source, getattr(context_value, "request_id", None))

    @staticmethod
    async def _coded(source: StreamResult, request_id: str | None) -> AsyncGenerator[Any, None]:
        async with aclosing(source):
            try:
                async for result in source:
                    if isinstance(result, ExecutionResult) and result.errors:
                        result.errors = [code_error(e, request_id) for e in result.errors]
                    yield result
            except GraphQLError as error:
                # A document that does not parse: ParserCache parses it outside the guard
                # Strawberry puts around its own parsing, so the error escapes the stream.
                yield PreExecutionError(data=None, errors=[code_error(error, request_id)])

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Strawberry logs every error, a client's bad cursor included; code_error logs the
        internal ones, with the request id, and that is all the log needs."""


def _refused(variables: dict[str, Any] | None) -> ExecutionResult | None:
    """The answer to variables holding a string no column can store (see inputs), refused
    before anything reads them; None for any other operation."""
    error: CidadaoError | None = unstorable_variable(variables)
    if error is None:
        return None
    return ExecutionResult(data=None, errors=[GraphQLError(error.message, original_error=error)])


async def _once(result: ExecutionResult) -> AsyncGenerator[Any, None]:
    yield result


# Refused before it could be priced (a syntax or validation error): it cost nothing.
_UNPRICED = {"requestedQueryCost": 0, "actualQueryCost": 0, "throttleStatus": None}


def build_schema(settings: Settings) -> Schema:
    apply_cost_directives(
        [Query, Agency, Supplier, Procurement, Item, Award, Contract, Sanction, Connection,
         Investigation, InvestigationFinding, InvestigationEvents, SpendingConnection,
         UnitPriceSummary, ContractFilter, ProcurementFilter, AgencyFilter, SupplierFilter,
         ItemFilter, AwardFilter, UnitPriceFilter]
    )  # fmt: skip
    rules: list[type[ASTValidationRule]] = [
        field_limit(settings.max_fields),
        depth_limit(settings.max_query_depth),
        alias_limit(settings.max_aliases),
        StorableStrings,
    ]
    if not settings.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    tracing = [OpenTelemetryExtension] if settings.otel_endpoint else []
    schema = Schema(
        settings,
        rules,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Agency, Supplier, Procurement, Item, Award, Contract, Sanction],
        extensions=[
            PersistedQueries,
            partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
            partial(ParserCache, maxsize=1024),
            partial(AddValidationRules, rules),
            partial(ValidationCache, maxsize=1024),
            partial(CostLimit, max_cost=settings.max_query_cost),
            *tracing,
        ],
        config=StrawberryConfig(
            auto_camel_case=True, batching_config={"max_operations": settings.batch_size}
        ),
        scalar_overrides={Decimal: DECIMAL, datetime: DATETIME, date: DATE},
    )
    describe(graphql_schema(schema))
    return schema


def sdl(schema: strawberry.Schema) -> str:
    """The schema as SDL, as committed in schema.graphql."""
    return schema.as_str() + "\n"
