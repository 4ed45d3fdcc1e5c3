"""The parameters of a GraphQL-over-HTTP request (query, operationName, variables,
extensions), read once from a GET's query string or a POST's JSON body and checked strictly:
whatever is not a GraphQL request is refused here with BAD_REQUEST, before anything else
reads it. Strawberry's view gets them as checked (its own parsing let a batch of non-objects,
bytes that are not UTF-8 and deeply nested JSON through as exceptions: plain-text 500s)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import orjson
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType, parse

from cidadao_gql.errors import BadRequest, UnsupportedMediaType, WebSocketRequired
from cidadao_gql.media import is_json_body

Params = dict[str, Any]
NAMES = ("query", "operationName", "variables", "extensions")


def from_query_string(raw: bytes) -> Params:
    """A GET's parameters: each at most once, UTF-8 once percent-decoded; `variables` and
    `extensions` URL-encoded JSON."""
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not UTF-8 once percent-decoded") from None
    params: Params = {}
    for name, value in pairs:
        if name not in NAMES:
            continue
        if name in params:
            raise BadRequest(f"`{name}` is given more than once")
        params[name] = value
    for name in ("variables", "extensions"):
        if name in params:
            params[name] = _json(params[name], f"`{name}`") if params[name] else None
    return checked(params)


def from_body(content_type: str | None, body: bytes, batch_size: int) -> Params | list[Params]:
    """A POST's parameters: one object, or a batch of 1 to `batch_size` of them."""
    if not is_json_body(content_type):
        raise UnsupportedMediaType("POST bodies are application/json (UTF-8)")
    parsed = _json(body, "the body")
    if isinstance(parsed, dict):
        return checked(parsed)
    if not isinstance(parsed, list):
        raise BadRequest("the body must be a JSON object, or an array of them (a batch)")
    if not parsed:
        raise BadRequest("a batch holds at least one operation")
    if len(parsed) > batch_size:
        raise BadRequest(f"a batch holds at most {batch_size} operations", maxOperations=batch_size)
    return [checked(item, f"operation {n} of the batch: ") for n, item in enumerate(parsed, 1)]


def _json(text: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:  # bad UTF-8, lone surrogates and depth included
        raise BadRequest(f"{what} is not JSON: {exc}") from None


def checked(params: object, where: str = "") -> Params:
    """The parameters when each has its type: `query` a string (or absent, for a persisted
    query), `operationName` a string, `variables` and `extensions` objects (or null)."""
    if not isinstance(params, dict):
        raise BadRequest(f"{where}an operation is a JSON object")
    for name, kind, what in (
        ("operationName", str, "a string"),
        ("variables", dict, "an object"),
        ("extensions", dict, "an object"),
    ):
        if not isinstance(params.get(name), kind | None):
            raise BadRequest(f"{where}`{name}` must be {what} or null")
    query = params.get("query")
    if not query and not isinstance((params.get("extensions") or {}).get("persistedQuery"), dict):
        raise BadRequest(f"{where}`query` is required")
    if not isinstance(query, str | None):
        raise BadRequest(f"{where}`query` must be a string")
    return params


@lru_cache(maxsize=4096)
def parsed(query: str, max_tokens: int) -> DocumentNode | None:
    """The document, parsed once per text (the response cache and the checks here share
    it); None when it does not parse within `max_tokens`: execution reports that, with its
    location. The limit matters here: this runs before the schema's own token check, on any
    body up to MAX_BODY_BYTES, and a megabyte of `a a a …` took 15 s to parse whole."""
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return None


@lru_cache(maxsize=4096)
def tokens(query: str, max_tokens: int) -> int:
    """The tokens of the document (what validation's work grows with); 0 when it does not
    parse within `max_tokens`: it is refused before validation."""
    document = parsed(query, max_tokens)
    if document is None or document.loc is None:
        return 0
    counted, token = 0, document.loc.start_token.next  # between <SOF> and <EOF>
    while token is not None and token is not document.loc.end_token:
        counted, token = counted + 1, token.next
    return counted


def chosen_operation(
    query: str, name: str | None, max_tokens: int, where: str = ""
) -> OperationDefinitionNode | None:
    """The operation a request runs: the one named, or the only one. BAD_REQUEST when the
    document holds several and the request names none, or none by that name (the spec's
    GetOperation(); Strawberry would run the first), or none at all; WEBSOCKET_REQUIRED for
    a subscription. None when the document does not parse (execution says where)."""
    document = parsed(query, max_tokens)
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise BadRequest(f"{where}the document holds no operation to run")
    if name is None and len(operations) > 1:
        raise BadRequest(
            f"{where}the document holds {len(operations)} operations: `operationName` must name one"
        )
    named = (o for o in operations if name is None or (o.name and o.name.value == name))
    chosen = next(named, None)
    if chosen is None:
        raise BadRequest(f"{where}the document has no operation named {name!r}")
    if chosen.operation is OperationType.SUBSCRIPTION:
        raise WebSocketRequired(
            f"{where}subscriptions run over WebSocket (graphql-transport-ws) at /graphql, "
            "not over HTTP"
        )
    return chosen
