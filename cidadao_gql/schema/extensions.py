"""Schema extensions of our own. Each is one class with one job."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension

from cidadao_gql.errors import CidadaoError

log = logging.getLogger("cidadao_gql.errors")


def _request_error_code(error: GraphQLError) -> str:
    """Code for an error raised before execution: the document or its variables are bad."""
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorCodes(SchemaExtension):
    """Gives every error a stable `extensions.code`. Our own errors keep their message and
    details; anything else is masked and logged with the request id, which the client gets
    too, so a report can be matched to the log."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", None)
        result.errors = [self._coded(e, request_id) for e in result.errors]

    def _coded(self, error: GraphQLError, request_id: str | None) -> GraphQLError:
        original = error.original_error
        if isinstance(original, CidadaoError):
            return self._with(error, original.message, original.extensions)
        if original is None or isinstance(original, GraphQLError):
            # graphql-core's own errors (syntax, validation, coercion): safe to show as they are
            code = (error.extensions or {}).get("code") or _request_error_code(error)
            return self._with(error, error.message, {**(error.extensions or {}), "code": code})
        log.error(
            "internal error in %s (request %s)",
            ".".join(map(str, error.path or [])) or "operation",
            request_id,
            exc_info=original,
        )
        return self._with(
            error,
            "Internal server error.",
            {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )

    @staticmethod
    def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions=extensions,
        )


class CachedParser(ParserCache):
    """Strawberry's ParserCache, except for documents that do not parse.

    Upstream, the cached parse raises the syntax error from the parsing hook, past the
    operation hooks, so ErrorCodes never sees it. Here a failed parse leaves the document
    unset; Strawberry then parses it itself and reports the error as a normal result.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
