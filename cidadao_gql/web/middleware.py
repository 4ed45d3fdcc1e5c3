"""Pure ASGI middleware (no per-request state on `self`; BaseHTTPMiddleware would break
contextvars)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cidadao_gql import metrics
from cidadao_gql.errors import BodyTooLarge, CidadaoError, CorsRefused, Overloaded, PayloadTooLarge
from cidadao_gql.observability import given_or_new
from cidadao_gql.web import encodings
from cidadao_gql.web.media import answer_type, is_json_body
from cidadao_gql.web.refusals import internal_error, refusal
from cidadao_gql.web.response_cache import ResponseCache
from cidadao_gql.web.sessions import COOKIE


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A preflight Starlette refuses (plain text, "Disallowed CORS origin") answered as
        every other refusal: JSON, CORS_REFUSED, the request id."""
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    said = bytes(response.body).decode()  # which of origin, method, headers
                    error = CorsRefused(f"preflight refused: {said}")
                    response = refusal(HTTPConnection(scope), error)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


VARY = b"Accept-Encoding, Accept"  # what every answer varies on, at least


def _vary_once(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with one Vary naming Accept-Encoding and Accept (the media type of an
    answer, and GraphiQL's page instead of JSON, follow it), then the others named, each
    once: a shared cache keeps one variant per coding and media type."""
    named = {b"accept-encoding": b"Accept-Encoding", b"accept": b"Accept"}
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
# answers. (Accept-Encoding's values are combined in both: the Gate.)
_ONCE = frozenset(
    {b"content-type", b"accept", b"content-length", b"transfer-encoding",
     b"content-encoding", b"x-request-id", b"origin"}
)  # fmt: skip
_SESSION = COOKIE.encode()


class InFlight:
    """The HTTP requests one app is answering, against its limit (0: none). Overload counts
    those the app answers, CachedAnswers those it answers itself, so that one limit holds
    for both."""

    __slots__ = ("count", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def full(self) -> bool:
        return 0 < self.limit <= self.count

    def enter(self) -> None:
        self.count += 1
        metrics.in_flight(1)  # the gauge itself is set by metrics.flush, once a second

    def leave(self) -> None:
        self.count -= 1
        metrics.in_flight(-1)


class CorsHeaders:
    """The headers Cors gives a hit (its Vary included), per Origin the request names,
    worked out by Cors itself on the hit's one Vary once per origin and kept: the fast path
    sends what Cors would, without Cors rewriting the headers of every answer (py-spy: a
    fifth of a worker's time on a browser's hit). Kept for at most MAX_ORIGINS origins;
    past them (origins a client makes up) worked out per request."""

    MAX_ORIGINS = 256
    VARY = ((b"vary", VARY),)  # every answer's, once: the Gate

    def __init__(self, cors: Cors | None) -> None:
        self.cors = cors
        self.kept: dict[bytes | None, tuple[tuple[bytes, bytes], ...]] = {}

    async def __call__(self, origin: bytes | None) -> tuple[tuple[bytes, bytes], ...]:
        kept = self.kept.get(origin)
        if kept is not None:
            return kept
        headers = self.VARY if self.cors is None else await self._made(self.cors, origin)
        if len(self.kept) < self.MAX_ORIGINS:
            self.kept[origin] = headers
        return headers

    async def _made(self, cors: Cors, origin: bytes | None) -> tuple[tuple[bytes, bytes], ...]:
        made: list[Message] = []

        async def sent(message: Message) -> None:
            made.append(message)

        scope = {"type": "http", "headers": [] if origin is None else [(b"origin", origin)]}
        start = {"type": "http.response.start", "status": 200, "headers": list(self.VARY)}
        await cors.send(start, sent, Headers(scope=scope))
        return tuple(made[0]["headers"])


class CachedAnswers:
    """The response cache's hot path, outside every other layer (app.App): an anonymous JSON
    POST to /graphql whose answer is in L1 is answered here, before any middleware or
    Starlette runs, with the bytes the full path stored, in the media type and content
    coding the full path would choose (the coding's bytes made once per answer:
    response_cache.Variants), with the headers the layers it skips would add (CORS, the
    request id) and within their limits (in flight, body size: what they would refuse goes
    on to them). Anything else, or a miss, goes on to the app with its body replayed. Off
    (`enabled` false) when the server runs registered documents only: the text of a hit may
    be another spelling of a registered one, which the full path refuses."""

    def __init__(
        self,
        app: ASGIApp,
        flight: InFlight,
        max_bytes: int,
        cors: Cors | None = None,
        enabled: bool = True,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.flight = flight
        self.max_bytes = max_bytes
        self.cors = CorsHeaders(cors)
        self.enabled = enabled
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        responses = (scope.get("state") or {}).get("responses") if self.enabled else None
        negotiated = (
            _negotiated(scope["headers"], self.max_bytes)
            if responses is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == self.path
            else None
        )
        if responses is None or negotiated is None:
            await self.app(scope, receive, send)
            return
        # The body's first part before a place in flight: a client slow to send it holds no
        # place (the app reads a body in parts, in BODY_TIMEOUT, its place counted by the Gate).
        message = await receive()
        if message["type"] != "http.request" or message.get("more_body", False):
            await self.app(scope, _replay(b"", message, receive), send)
            return
        if self.flight.full():
            await self.app(scope, _replay(b"", message, receive), send)  # the Gate's 503
            return
        self.flight.enter()
        try:
            replayed = await self._hit(responses, negotiated, message.get("body", b""), send)
        finally:
            self.flight.leave()
        if replayed is not None:
            await self.app(scope, _replay(replayed, None, receive), send)

    async def _hit(
        self, responses: ResponseCache, negotiated: Negotiated, body: bytes, send: Send
    ) -> bytes | None:
        """Sends the hit and returns None; or returns the body for the app to read instead."""
        started = time.perf_counter()
        media_type, wanted, given_id, origin = negotiated
        try:
            operation = orjson.loads(body)
            # With extensions (a persisted query's hash to check, say) the full path answers.
            plain = isinstance(operation, dict) and not operation.get("extensions")
            key = responses.key(operation) if plain else None
            cached = None if key is None else responses.in_memory(key)
            if key is None or cached is None:
                return body
            coding, answer = responses.variants.encoded(key, cached, wanted)
        except Exception:  # the full path answers it, or its JSON 500 (the Gate)
            return body
        rid = given_or_new(None if given_id is None else given_id.decode("latin-1"))
        headers = [(b"content-type", media_type), (b"content-length", str(len(answer)).encode()),
                   (b"x-cache", b"hit"), (b"x-request-id", rid.encode())]  # fmt: skip
        if coding != encodings.IDENTITY:
            headers.append((b"content-encoding", coding.encode()))
        headers += self.cors.kept.get(origin) or await self.cors(origin)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        name = operation.get("operationName")  # latency per operation, as the full path's hits
        label = metrics.operation_label(name if isinstance(name, str) else None)
        metrics.fast_hit(coding, label, time.perf_counter() - started)
        return None


# A hit's media type, the coding it accepts, the X-Request-ID and the Origin it gave.
Negotiated = tuple[bytes, str, bytes | None, bytes | None]


def _negotiated(headers: list[tuple[bytes, bytes]], max_bytes: int) -> Negotiated | None:
    """What a hit for a request with these headers is sent with; None when it is not an
    anonymous JSON POST, of a declared length within `max_bytes`, that this path answers as
    the full path would."""
    json_body = False
    media_type: bytes | None = b"application/json"
    given_id: bytes | None = None
    origin: bytes | None = None
    length = b""
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
            json_body = _json_body(value)
        elif name == b"accept":
            media_type = _media_type(value)
        elif name == b"accept-encoding":
            codings.append(value)
        elif name == b"content-length":
            length = value
        elif name == b"origin":
            origin = value
        elif name == b"x-request-id":
            given_id = value
    if not json_body or media_type is None:  # not JSON, or a 406: the full path says why
        return None
    if not length.isdigit() or int(length) > max_bytes:  # the Gate reads it, or refuses it
        return None
    return media_type, _coding(b", ".join(codings)), given_id, origin


def _session_cookie(header: bytes) -> bool:
    """Whether a Cookie header holds the session's cookie (other cookies, analytics' say,
    leave a request anonymous)."""
    return _SESSION in header and COOKIE in cookie_parser(header.decode("latin-1"))


@lru_cache(maxsize=256)
def _json_body(content_type: bytes) -> bool:
    return is_json_body(content_type.decode("latin-1"))


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


class Gate:
    """What every HTTP request goes through, in one pass and one wrapper of `send` (five
    layers of their own were 9 % of our process on a node lookup, py-spy under wrk):

    - the last resort: an exception nothing else handled is logged with the request id and
      answered as a JSON 500 (INTERNAL_SERVER_ERROR), not Starlette's plain text, and not
      raised on (uvicorn would close the connection, and the next request on it would be
      reset); once the answer has started nothing can be sent in its place: raised on;
    - HEAD on GraphQL's paths answered as GET would be, headers and all (its ETag, its
      Content-Length), without the body (RFC 9110 §9.3.2): the app below sees a GET;
    - at most `flight.limit` requests in flight (0: no limit), the next answered 503 at once
      with Retry-After, so that overload shows as fast refusals a load balancer can retry
      elsewhere rather than as every request queueing; health checks and metrics never;
    - a body over `max_bytes` refused with 413, before it is read when the client declares
      its length, as soon as it passes the limit when it does not;
    - compression (`compress` wraps the app) only for requests whose Accept-Encoding chooses
      a coding (encodings.chosen: the client's weights), handed that coding alone, since it
      would pick by its own order among all it accepts; the others skip its per-response
      wrapping. Every answer names Accept-Encoding and Accept once in one Vary (the app's,
      the compressor's and any other merged), as the fast path's: one answer, one Vary.
    """

    EXEMPT = ("/health", "/metrics")

    def __init__(
        self,
        app: ASGIApp,
        flight: InFlight | None = None,
        max_bytes: int | None = None,
        compress: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.flight = flight or InFlight(0)
        self.max_bytes = max_bytes
        self.compress = app if compress is None else compress(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        head = scope["method"] == "HEAD" and (path == "/graphql" or path.startswith("/q/"))
        declared, codings = None, []
        for name, value in scope["headers"]:  # one look at them for everything below
            if name == b"content-length":
                declared = value if declared is None else declared
            elif name == b"accept-encoding":
                codings.append(value)
        flight = self.flight
        counted = flight.limit and not path.startswith(self.EXEMPT)
        if counted and flight.full():
            metrics.OVERLOAD_REJECTIONS.inc()
            error = Overloaded("this server is at its concurrency limit; retry shortly")
            await self._refuse(scope, receive, send, error, head)
            return
        limit = self.max_bytes
        if limit is not None and declared is not None and declared.isdigit():
            if int(declared) > limit:
                await self._refuse(scope, receive, send, _too_large(limit), head)
                return
            limit = None  # the server holds the client to its declared length
        # One field, the values comma-joined (RFC 9110 §5.3), as CachedAnswers reads them.
        coding = _coding(b", ".join(codings)) if codings else encodings.IDENTITY
        if codings:  # the app reads the choice made here (negotiation.public_answer)
            others = [h for h in scope["headers"] if h[0] != b"accept-encoding"]
            scope = {**scope, "headers": [*others, (b"accept-encoding", coding.encode())]}
        if head:
            scope = {**scope, "method": "GET"}
        started = False
        seen = 0

        async def sent(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _vary_once(message["headers"])
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        async def read() -> Message:  # only when the length is not declared
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if limit is not None and seen > limit:
                    raise BodyTooLarge
            return message

        inner = self.app if coding == encodings.IDENTITY else self.compress
        if counted:
            flight.enter()
        try:
            await inner(scope, receive if limit is None else read, sent)
        except BodyTooLarge:  # (after the answer started, too late to refuse: dropped)
            if not started:
                await self._refuse(scope, receive, send, _too_large(self.max_bytes or 0), head)
        except Exception as exc:
            if started:
                raise
            await internal_error(HTTPConnection(scope), exc)(scope, receive, send)
        finally:
            if counted:
                flight.leave()

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: CidadaoError, head: bool
    ) -> None:
        async def headless(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await refusal(HTTPConnection(scope), error)(scope, receive, headless if head else send)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is over {max_bytes} bytes", maxBytes=max_bytes)
