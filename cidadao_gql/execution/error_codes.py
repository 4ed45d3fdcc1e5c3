"""Every error leaves with a stable `extensions.code`. Our own errors keep their message and
details; graphql-core's (syntax, validation, coercion) are safe to show as they are;
anything else is masked and logged with the request id, which the client gets too, so a
report can be matched to the log."""

from __future__ import annotations

import logging
import re

import asyncpg
from graphql import GraphQLError

from cidadao_gql.errors import (
    BadUserInput,
    CidadaoError,
    InvalidPageSize,
    QueryTimeout,
    TooManyFields,
    TooManyTokens,
)

log = logging.getLogger("cidadao_gql.errors")


# The arguments that size a page: a null one given through a variable is refused as a size.
PAGE_SIZE_ARGUMENTS = ("first", "last")
# graphql-core's OverlappingFieldsCanBeMerged gave up: its comparisons spent the budget
# limits.py sets (fields too many times the same at one response path).
OVERLAP_BUDGET_SPENT = "Validation aborted."
_INVALID_ARGUMENT = re.compile(r"Argument '(\w+)' has invalid value")


def _request_error_code(error: GraphQLError) -> str:
    """Code for an error graphql-core raised: the document, its variables or an argument's
    value (null for a non-null argument with a default, through a variable) are bad."""
    argument = _INVALID_ARGUMENT.match(error.message)
    if argument is not None:
        if argument[1] in PAGE_SIZE_ARGUMENTS:
            return InvalidPageSize.code
        return BadUserInput.code
    if error.message.startswith("Syntax Error: Document contains more than"):
        return TooManyTokens.code
    if error.message == OVERLAP_BUDGET_SPENT:
        return TooManyFields.code
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return BadUserInput.code
    if error.path is not None and error.message.startswith("Argument '"):
        # Coerced as the field runs: a variable's explicit null where the argument is
        # non-null with a default (`first`), which validation cannot see.
        return BadUserInput.code
    return "GRAPHQL_VALIDATION_FAILED"


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


def code_error(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """The error as the client sees it: coded, masked when internal, and carrying the
    request id (`extensions.requestId`) so a report can be matched to the logs."""
    coded = _coded(error, request_id)
    if request_id and coded.extensions is not None:
        coded.extensions.setdefault("requestId", request_id)
    return coded


def _wrapped(error: GraphQLError) -> CidadaoError | None:
    """Our error inside graphql-core's wrapping of it (coercion wraps what a scalar raises
    once per level: the value, then the variable), whose message says where it was."""
    cause: BaseException | None = error.original_error
    while isinstance(cause, GraphQLError):
        cause = cause.original_error
    return cause if isinstance(cause, CidadaoError) else None


def _coded(error: GraphQLError, request_id: str | None) -> GraphQLError:
    original = error.original_error
    if isinstance(original, CidadaoError):
        return _with(error, original.message, original.extensions)
    if isinstance(original, asyncpg.QueryCanceledError):
        return _with(
            error,
            "the database cancelled a statement that ran too long",
            {"code": QueryTimeout.code},
        )
    if original is None or isinstance(original, GraphQLError):
        extensions = dict(error.extensions or {})
        wrapped = _wrapped(error)  # a scalar of ours refusing a value, say
        for name, value in (wrapped.extensions if wrapped is not None else {}).items():
            extensions.setdefault(name, value)
        extensions.setdefault("code", _request_error_code(error))
        return _with(error, error.message, extensions)
    log.error(
        "internal error in %s (request %s)",
        ".".join(map(str, error.path or [])) or "operation",
        request_id,
        exc_info=original,
    )
    return _with(
        error, "Internal server error.", {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    )
