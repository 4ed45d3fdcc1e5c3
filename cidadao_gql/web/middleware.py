"""Pure ASGI middleware (no per-request state on `self`; BaseHTTPMiddleware would break
contextvars)."""

from __future__ import annotations

import os

import orjson
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cidadao_gql import metrics
from cidadao_gql.errors import Overloaded, PayloadTooLarge
from cidadao_gql.web.media import is_json_body
from cidadao_gql.web.refusals import internal_error, refusal


class BodyTooLarge(Exception):
    pass


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


class CompressWhenAsked:
    """Calls the compression middleware only for requests that accept an encoding; the
    others (load generators, some scripts) skip its per-response wrapping altogether."""

    def __init__(self, app: ASGIApp, compress: ASGIApp) -> None:
        self.app = app
        self.compress = compress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k == b"accept-encoding" for k, _ in scope["headers"]):
            await self.compress(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# Headers that send a request down the full path: it is authenticated, wants compression,
# crosses origins, or negotiates a media type the fast path does not write.
_FULL_PATH = frozenset({b"authorization", b"accept-encoding", b"origin", b"cookie"})


class CachedAnswers:
    """The response cache's hot path: an anonymous JSON POST to /graphql whose answer is in
    L1 is answered here, before Starlette builds a request, with the bytes the full path
    stored. Anything else, or a miss, goes on to the app with its body replayed."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        responses = (scope.get("state") or {}).get("responses")
        if (
            responses is None
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or not self._plain(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
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
        metrics.cache_lookup("response", "response", True)
        answer = cached.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode()),
            (b"x-cache", b"hit"), (b"x-request-id", os.urandom(16).hex().encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer})

    @staticmethod
    def _plain(headers: list[tuple[bytes, bytes]]) -> bool:
        json_body = False
        for name, value in headers:
            if name in _FULL_PATH:
                return False
            if name == b"content-type":
                json_body = is_json_body(value.decode("latin-1"))
            elif name == b"accept" and value not in (b"*/*", b"application/json"):
                return False
        return json_body


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
        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()


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
