"""Every error answer written outside GraphQL execution: refusals of the HTTP layer (a body
that is not a GraphQL request, a method, a media type, a path), authentication failures,
Starlette's own 404 and 405, and the last-resort 500. One function builds their bodies, in
the shape GraphQL errors have: {"errors": [{"message", "extensions": {"code", …,
"requestId"}}]}, in the media type the client accepts."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from cidadao_gql import metrics
from cidadao_gql.errors import (
    BadRequest,
    CidadaoError,
    MethodNotAllowed,
    NotAcceptable,
    PathNotFound,
    PayloadTooLarge,
    Refused,
    UnsupportedMediaType,
)
from cidadao_gql.observability import request_id
from cidadao_gql.web.media import JSON, answer_type

log = logging.getLogger("cidadao_gql.errors")

# Starlette's (and Strawberry's) HTTPException by status: the refusal it means.
BY_STATUS: dict[int, type[Refused]] = {
    400: BadRequest,
    404: PathNotFound,
    405: MethodNotAllowed,
    406: NotAcceptable,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def error_entry(error: CidadaoError, request_id: str | None) -> dict[str, object]:
    """One entry of an `errors` list: the message, the code and details, the request id."""
    extensions = {**error.extensions, "requestId": request_id} if request_id else error.extensions
    return {"message": error.message, "extensions": extensions}


def error_body(error: CidadaoError, request_id: str | None) -> bytes:
    return orjson.dumps({"errors": [error_entry(error, request_id)]})


def refusal(
    connection: HTTPConnection,
    error: CidadaoError,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer to a request refused with `error`: its status (a Refused knows its own),
    the request id, and the media type the client accepts (application/json when it
    accepts neither: a 406 is still JSON). `no-store`: no cache keeps a refusal (Varnish
    would keep an answer without Cache-Control for its default TTL)."""
    if status is None:
        status = error.status if isinstance(error, Refused) else 400
    metrics.ERRORS.labels(error.code).inc()
    rid = request_id(connection)
    return Response(
        error_body(error, rid),
        status_code=status,
        media_type=answer_type(connection.headers.get("accept")) or JSON,
        headers={
            "x-request-id": rid,
            "cache-control": "no-store",
            **(error.headers if isinstance(error, Refused) else {}),
            **(headers or {}),
        },
    )


def internal_error(connection: HTTPConnection, exc: BaseException) -> Response:
    """A 500 for an exception nothing else handled: logged with the request id, masked."""
    log.error("internal error (request %s)", request_id(connection), exc_info=exc)
    return refusal(connection, CidadaoError("Internal server error."), status=500)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's handler for its HTTPException (an unknown path, a method a route does not
    take): the same refusal in JSON, with its headers (`Allow`)."""
    assert isinstance(exc, HTTPException)
    kind = BY_STATUS.get(exc.status_code, BadRequest)
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # from a set: one order for every process
        headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
    return refusal(request, kind(exc.detail), exc.status_code, headers)
