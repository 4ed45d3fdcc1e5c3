"""Pure ASGI middleware (no per-request state on `self`; BaseHTTPMiddleware would break
contextvars)."""

from __future__ import annotations

import time
from functools import lru_cache

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cidadao_gql import metrics
from cidadao_gql.errors import BodyTooLarge, Overloaded, PayloadTooLarge
from cidadao_gql.observability import given_or_new
from cidadao_gql.web import encodings
from cidadao_gql.web.media import answer_type, is_json_body
from cidadao_gql.web.refusals import internal_error, refusal
from cidadao_gql.web.sessions import COOKIE


class BodyLimit:
    """Refuses a request body over `max_bytes` with 413, before reading it when the client
    declares its length, and as soon as it passes the limit when it does not."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:  # the server holds the client to its declared length: nothing to count
                await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(
            f"the request body is over {self.max_bytes} bytes", maxBytes=self.max_bytes
        )
        await refusal(HTTPConnection(scope), error)(scope, receive, send)


class Cors(CORSMiddleware):
    """Starlette's CORS, but an answer to an origin it does not allow gets no
    `Access-Control-Allow-Credentials` (Starlette sends it to any `Origin`)."""

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        async def checked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "access-control-allow-origin" not in headers:
                    del headers["access-control-allow-credentials"]
            await send(message)

        await super().send(message, checked, request_headers)


class CompressWhenAsked:
    """Calls the compression middleware only for requests that accept an encoding; the
    others (load generators, some scripts) skip its per-response wrapping altogether.
    Either way an answer names Accept-Encoding once in one Vary (the app's, the
    middleware's and any other merged), as the fast path's: one answer, one Vary."""

    def __init__(self, app: ASGIApp, compress: ASGIApp) -> None:
        self.app = app
        self.compress = compress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        codings = [value for name, value in scope["headers"] if name == b"accept-encoding"]
        if len(codings) > 1:
            # One field, the values comma-joined (RFC 9110 §5.3), as CachedAnswers reads
            # them: Starlette's `headers.get` and the compression middleware read the first.
            others = [h for h in scope["headers"] if h[0] != b"accept-encoding"]
            scope = {**scope, "headers": [*others, (b"accept-encoding", b", ".join(codings))]}

        async def varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _vary_once(message["headers"])
            await send(message)

        await (self.compress if codings else self.app)(scope, receive, varied)


def _vary_once(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with one Vary naming Accept-Encoding, then the others named, each once."""
    named = {b"accept-encoding": b"Accept-Encoding"}
    others = []
    for name, value in headers:
        if name.lower() == b"vary":
            for each in value.split(b","):
                named.setdefault(each.strip().lower(), each.strip())
        else:
            others.append((name, value))
    named.pop(b"", None)
    return [*others, (b"vary", b", ".join(named.values()))]


# Headers that send a request down the full path: it may be authenticated (a key or a
# token; a session's cookie is looked for among the cookies). Compression, origins and
# media types are answered here as the full path answers them: a browser's hit and a
# GraphQL client's take this path too.
_FULL_PATH = frozenset({b"authorization"})
# Headers the full path reads one of (Starlette's `headers.get`: the first). Sent twice,
# the fast path could read another and answer what the full path refuses: the full path
# answers. (Accept-Encoding's values are combined in both: CompressWhenAsked.)
_ONCE = frozenset(
    {b"content-type", b"accept", b"content-length", b"transfer-encoding",
     b"content-encoding", b"x-request-id"}
)  # fmt: skip
_SESSION = COOKIE.encode()


class CachedAnswers:
    """The response cache's hot path: an anonymous JSON POST to /graphql whose answer is in
    L1 is answered here, before Starlette builds a request, with the bytes the full path
    stored, in the media type and content coding the full path would choose (the coding's
    bytes made once per answer: response_cache.Variants). Anything else, or a miss, goes
    on to the app with its body replayed. CORS, outside, adds its headers as to any. Off
    (`enabled` false) when the server runs registered documents only: the text of a hit may
    be another spelling of a registered one, which the full path refuses."""

    def __init__(self, app: ASGIApp, path: str = "/graphql", enabled: bool = True) -> None:
        self.app = app
        self.path = path
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        responses = (scope.get("state") or {}).get("responses") if self.enabled else None
        negotiated = (
            _negotiated(scope["headers"])
            if responses is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == self.path
            else None
        )
        if responses is None or negotiated is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            operation = orjson.loads(body)
        except orjson.JSONDecodeError:
            operation = None
        # With extensions (a persisted query's hash to check, say) the full path answers.
        plain = isinstance(operation, dict) and not operation.get("extensions")
        key = responses.key(operation) if plain else None
        cached = None if key is None else responses.in_memory(key)
        if cached is None:
            await self.app(scope, _replay(body, None, receive), send)
            return
        media_type, wanted, given_id = negotiated
        coding, answer = responses.variants.encoded(key, cached, wanted)
        metrics.cache_lookup("response", "response", True)
        metrics.response_hit("fast", coding)
        rid = given_or_new(None if given_id is None else given_id.decode("latin-1"))
        headers = [(b"content-type", media_type), (b"content-length", str(len(answer)).encode()),
                   (b"x-cache", b"hit"), (b"x-request-id", rid.encode())]  # fmt: skip
        if coding != encodings.IDENTITY:
            headers.append((b"content-encoding", coding.encode()))
        headers.append((b"vary", b"Accept-Encoding"))  # as every answer: CompressWhenAsked
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        name = operation.get("operationName")  # latency per operation, as the full path's hits
        metrics.REQUEST_DURATION.labels(
            metrics.operation_label(name if isinstance(name, str) else None), "cache"
        ).observe(time.perf_counter() - started)


def _negotiated(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, str, bytes | None] | None:
    """The media type and content coding of a hit for a request with these headers, and
    the X-Request-ID it gave; None when it is not an anonymous JSON POST this path answers
    as the full path would."""
    json_body = False
    media_type: bytes | None = b"application/json"
    given_id: bytes | None = None
    codings: list[bytes] = []
    seen: set[bytes] = set()
    for name, value in headers:
        if name in _FULL_PATH or (name == b"cookie" and _session_cookie(value)):
            return None
        if name in _ONCE:
            if name in seen:
                return None
            seen.add(name)
        if name == b"content-type":
            json_body = is_json_body(value.decode("latin-1"))
        elif name == b"accept":
            media_type = _media_type(value)
        elif name == b"accept-encoding":
            codings.append(value)
        elif name == b"x-request-id":
            given_id = value
    if not json_body or media_type is None:  # not JSON, or a 406: the full path says why
        return None
    return media_type, _coding(b", ".join(codings)), given_id


def _session_cookie(header: bytes) -> bool:
    """Whether a Cookie header holds the session's cookie (other cookies, analytics' say,
    leave a request anonymous)."""
    return _SESSION in header and COOKIE in cookie_parser(header.decode("latin-1"))


@lru_cache(maxsize=256)
def _media_type(accept: bytes) -> bytes | None:
    chosen = answer_type(accept.decode("latin-1"))
    return None if chosen is None else chosen.encode()


@lru_cache(maxsize=256)
def _coding(accept_encoding: bytes) -> str:
    return encodings.chosen(accept_encoding.decode("latin-1"))


def _replay(body: bytes, first: Message | None, receive: Receive) -> Receive:
    """A receive that hands over what was already read, then the rest."""
    pending = (
        [first]
        if first is not None
        else [{"type": "http.request", "body": body, "more_body": False}]
    )

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


class Overload:
    """At most `limit` HTTP requests in flight in this worker; the next is answered 503 at
    once (with Retry-After), so that overload shows as fast refusals a load balancer can
    retry elsewhere rather than as every request queueing for seconds. Health checks and
    metrics are never refused. `limit` 0 turns it off."""

    EXEMPT = ("/health", "/metrics")

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or scope["path"].startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            metrics.OVERLOAD_REJECTIONS.inc()
            error = Overloaded("this server is at its concurrency limit; retry shortly")
            await refusal(HTTPConnection(scope), error)(scope, receive, send)
            return
        self.in_flight += 1
        metrics.in_flight(1)  # the gauge itself is set by metrics.flush, once a second
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.in_flight(-1)


class UnhandledErrors:
    """The last resort, outermost: an exception nothing else handled is logged with the
    request id and answered as a JSON 500 (INTERNAL_SERVER_ERROR), not Starlette's plain
    text, and not raised on: uvicorn closes the connection on an exception that escapes,
    and the next request on it would be reset. After the answer has started, nothing can
    be sent in its place: raised on as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            await internal_error(HTTPConnection(scope), exc)(scope, receive, send)
