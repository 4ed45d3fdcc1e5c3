"""The parameters of a GraphQL-over-HTTP request (query, operationName, variables,
extensions), read once from a GET's query string or a POST's JSON body and checked strictly:
whatever is not a GraphQL request is refused here with BAD_REQUEST, before anything else
reads it. Strawberry's view gets them as checked (its own parsing let a batch of non-objects,
bytes that are not UTF-8 and deeply nested JSON through as exceptions: plain-text 500s)."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import orjson
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.requests import ClientDisconnect, Request

from cidadao_gql.data.persisted import PersistedDocuments
from cidadao_gql.errors import (
    BadRequest,
    BodyTimeout,
    ClientDisconnected,
    MethodNotAllowed,
    PersistedQueryNotSupported,
    UnsupportedMediaType,
    WebSocketRequired,
)
from cidadao_gql.execution.expansion import schema_fields
from cidadao_gql.execution.limits import MAX_SCHEMA_FIELDS
from cidadao_gql.settings import Settings
from cidadao_gql.web.media import is_json_body

Params = dict[str, Any]
NAMES = ("query", "operationName", "variables", "extensions")
# How deep `variables` and `extensions` may nest (the object itself is level 1). No input of
# our schema needs more than a handful of levels; past 254, orjson cannot write them back
# (the response cache and the compiled path's price cache key on them), which was a 500.
MAX_NESTING = 64
# A GET carries four parameters; a client's cache-busting ones are let through and ignored,
# up to this many (parse_qsl would read 20,000 of them, and each costs a lookup here).
MAX_QUERY_PARAMETERS = 100
PERSISTED_QUERY_VERSION = 1


def from_query_string(raw: bytes) -> Params:
    """A GET's parameters: each at most once, UTF-8 once percent-decoded; `variables` and
    `extensions` URL-encoded JSON."""
    try:
        pairs = parse_qsl(
            raw.decode(),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_QUERY_PARAMETERS,
        )
    except UnicodeDecodeError:
        raise BadRequest("the query string is not UTF-8 once percent-decoded") from None
    except ValueError:  # more fields than max_num_fields
        raise BadRequest(
            f"the query string holds more than {MAX_QUERY_PARAMETERS} parameters",
            maxParameters=MAX_QUERY_PARAMETERS,
        ) from None
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
    for name in ("variables", "extensions"):
        if nested_past(params.get(name), MAX_NESTING):
            raise BadRequest(
                f"{where}`{name}` nests more than {MAX_NESTING} levels deep",
                maxNesting=MAX_NESTING,
            )
    persisted = _persisted_query(params.get("extensions"), where)
    query = params.get("query")
    if not query and persisted is None:
        raise BadRequest(f"{where}`query` is required")
    if not isinstance(query, str | None):
        raise BadRequest(f"{where}`query` must be a string")
    return params


def nested_past(value: object, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels deep in `value` (a scalar is
    level 0); walked with a stack of its own, so no depth makes Python recurse."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _persisted_query(extensions: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """`extensions.persistedQuery` when it is one we run: an object of version 1 (the only
    version of Apollo's protocol) whose `sha256Hash` is a string. Anything else is refused
    rather than ignored: a client that meant a persisted query must not get another
    operation's answer, or a document it did not send run."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise BadRequest(f"{where}`extensions.persistedQuery` must be an object")
    version = persisted.get("version")
    if type(version) is not int:  # "1" and true are not versions
        raise BadRequest(f"{where}`extensions.persistedQuery.version` must be an integer")
    if version != PERSISTED_QUERY_VERSION:
        raise PersistedQueryNotSupported(
            f"{where}persisted queries of version {version} are not supported",
            version=PERSISTED_QUERY_VERSION,
        )
    if not isinstance(persisted.get("sha256Hash"), str):
        raise BadRequest(f"{where}`extensions.persistedQuery.sha256Hash` must be a string")
    return persisted


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
    chosen = named_operation(query, name, max_tokens, where)
    if chosen is not None and chosen.operation is OperationType.SUBSCRIPTION:
        raise WebSocketRequired(
            f"{where}subscriptions run over WebSocket (graphql-transport-ws) at /graphql, "
            "not over HTTP"
        )
    return chosen


def named_operation(
    query: str, name: str | None, max_tokens: int, where: str = ""
) -> OperationDefinitionNode | None:
    """The operation `name` picks, or the only one; BAD_REQUEST as chosen_operation says,
    over any transport. None when the document does not parse."""
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
    return chosen


async def _body(request: Request, seconds: int) -> bytes:
    """The whole body, in `seconds` at most: a client that declares a length and sends less
    would otherwise hold its place among the requests in flight for as long as it likes
    (enough of them and every other request is refused as overloaded)."""
    try:
        async with asyncio.timeout(seconds):
            return await request.body()
    except TimeoutError:
        raise BodyTimeout(
            f"the request body was not all received in {seconds} s", timeoutSeconds=seconds
        ) from None
    except ClientDisconnect:
        raise ClientDisconnected("the client left before its request body arrived") from None


async def request_params(
    request: Request, settings: Settings, persisted: PersistedDocuments
) -> Params | list[Params]:
    """The request's GraphQL parameters, read and checked (graphql_params), a persisted query
    resolved, and each operation one this method can run. Resolved here, before the
    response cache, so that a hash is registered even when the answer comes from the cache
    (execution resolves it again: cheap)."""
    params: Params | list[Params]
    if request.method == "GET":
        params = from_query_string(request.scope["query_string"])
    else:
        body = await _body(request, settings.body_timeout_s)
        params = from_body(request.headers.get("content-type"), body, settings.batch_size)
    if isinstance(params, dict) and (params.get("extensions") or settings.persisted_queries_only):
        query = await persisted.resolve(params.get("query"), params.get("extensions"))
        params = {**params, "query": query}
    batch = isinstance(params, list)
    spent = 0  # a batch's documents share one budget of tokens, so it cannot multiply work
    size = 0  # and of text: the lexer's time grows with a literal's length, not its tokens
    schemas = 0  # and one `__schema`, which pricing runs
    for n, each in enumerate(params if isinstance(params, list) else [params], 1):
        query, name = each.get("query"), each.get("operationName")
        if not isinstance(query, str):
            continue  # a persisted query of a batch: execution resolves and checks it
        where = f"operation {n} of the batch: " if batch else ""
        size += len(query.encode())
        allowed = settings.max_document_bytes * (BATCH_TEXT_FACTOR if batch else 1)
        if size > allowed:
            raise BadRequest(
                f"{where}the documents hold more than {allowed} bytes of text",
                maxDocumentBytes=allowed,
            )
        if batch:
            spent += tokens(query, settings.max_tokens)
            if spent > settings.max_batch_tokens:
                raise BadRequest(
                    f"{where}the batch's documents hold more than {settings.max_batch_tokens}"
                    " tokens together",
                    maxBatchTokens=settings.max_batch_tokens,
                )
        chosen = chosen_operation(query, name, settings.max_tokens, where)
        document = parsed(query, settings.max_tokens) if batch else None
        schemas += schema_fields(document) if document is not None else 0
        if schemas > MAX_SCHEMA_FIELDS:  # one document's own is refused as it is validated
            raise BadRequest(
                f"{where}the request asks for `__schema` more than {MAX_SCHEMA_FIELDS} time",
                maxSchemaFields=MAX_SCHEMA_FIELDS,
            )
        if request.method == "GET" and chosen and chosen.operation is OperationType.MUTATION:
            raise MethodNotAllowed("mutations are POST only", allow="POST")
    return params


# A batch's documents share a budget of text of this many times one document's.
BATCH_TEXT_FACTOR = 4
