"""What an answer looks like to the client that asked: the status and media type GraphQL
over HTTP gives it, and the ETag and cache headers of a public answer."""

from __future__ import annotations

import hashlib

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cidadao_gql.errors import (
    BadUserInput,
    QueryTooDeep,
    TooManyAliases,
    TooManyFields,
    TooManyTokens,
)
from cidadao_gql.observability import request_id
from cidadao_gql.web import encodings
from cidadao_gql.web.media import GRAPHQL_RESPONSE, JSON, answer_type
from cidadao_gql.web.response_cache import ResponseCache

# Errors that mean the request was not a valid GraphQL request: nothing was executed.
REQUEST_ERRORS = frozenset({
    "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",  # graphql-core's, coded by error_codes
    BadUserInput.code, TooManyTokens.code, QueryTooDeep.code, TooManyAliases.code,
    TooManyFields.code,
})  # fmt: skip


def negotiated(request: Request, response: Response) -> Response:
    """With application/graphql-response+json, a request error (nothing executed) is a 400
    without `data`; with application/json, everything GraphQL answers is a 200."""
    wanted = answer_type(request.headers.get("accept"))
    if response.status_code != 200 or wanted != GRAPHQL_RESPONSE or not response.body:
        return response
    answer = orjson.loads(response.body)
    if not isinstance(answer, dict):  # a batch keeps 200: each entry has its own errors
        response.headers["content-type"] = GRAPHQL_RESPONSE
        return response
    codes = {e.get("extensions", {}).get("code") for e in answer.get("errors") or ()}
    status = 200
    if answer.get("data") is None and codes and codes <= REQUEST_ERRORS:
        answer.pop("data", None)
        status = 400
    return Response(
        orjson.dumps(answer),
        status_code=status,
        media_type=GRAPHQL_RESPONSE,
        headers=extra_headers(response),
    )


def extra_headers(response: Response) -> dict[str, str]:
    """A response's headers other than those its body sets."""
    skip = {"content-type", "content-length"}
    return {k: v for k, v in response.headers.items() if k not in skip}


def public_answer(
    request: Request, responses: ResponseCache, key: str, body: str, cache: str, tags: str
) -> Response:
    """A public answer from the response cache, in the coding the request accepts (made
    once per answer: response_cache.Variants). Over GET (and HEAD: middleware.Gate) it carries
    an ETag, one per representation, may be kept by browsers and shared caches, and names
    what it read for the edge to purge (`Surrogate-Key`)."""
    wanted = encodings.chosen(request.headers.get("accept-encoding"))
    coding, data = responses.variants.encoded(key, body, wanted)
    media_type = answer_type(request.headers.get("accept")) or JSON
    headers = {"x-request-id": request_id(request), "x-cache": cache}
    if coding != encodings.IDENTITY:
        headers["content-encoding"] = coding  # the compression middleware leaves it as it is
    headers["vary"] = "Accept-Encoding, Accept"  # once: the Gate merges the others
    if request.method == "GET":
        etag = representation_etag(body, coding, media_type)
        headers |= {"etag": etag, "cache-control": responses.cache_control, "surrogate-key": tags}
        if matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def representation_etag(body: str, coding: str, media_type: str) -> str:
    """A strong ETag for one representation of an answer: the same body in another coding
    or media type is another representation (RFC 9110 §8.8.3), with another tag."""
    digest = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()
    suffix = "" if coding == encodings.IDENTITY else f"-{coding}"
    suffix += "" if media_type == JSON else "-gqlr"
    return f'"{digest}{suffix}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this representation's ETag (weak comparison, as RFC 9110
    §13.1.2 asks: `W/` is ignored), or is `*` (any representation)."""
    if not if_none_match:
        return False
    given = (tag.strip() for tag in if_none_match.split(","))
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in given)


def browser(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
