"""The Starlette application: GraphQL at /graphql (GraphiQL for browsers), /health."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import OperationType
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from starlette.websockets import WebSocket, WebSocketDisconnect
from starlette_compress import CompressMiddleware, add_compress_type
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

from cidadao_gql import graphiql, health, metrics
from cidadao_gql.apikeys import Tokens, User, authenticate
from cidadao_gql.errors import BadUserInput, CidadaoError, Unauthenticated
from cidadao_gql.loaders import make_loaders
from cidadao_gql.middleware import BodyLimit, CachedAnswers, CompressWhenAsked, Overload
from cidadao_gql.observability import REQUEST_ID, configure_tracing
from cidadao_gql.resources import Resources, open_resources
from cidadao_gql.response_cache import ResponseCache, operation_of
from cidadao_gql.schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.sessions import (
    COOKIE,
    CsrfPrevented,
    Session,
    Sessions,
    SessionsDisabled,
    check_preflighted,
)
from cidadao_gql.settings import Settings

add_compress_type("application/graphql-response+json")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class CountedMessages(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with every message in and out counted for the metrics."""

    async def handle_message(self, message: Message) -> None:
        metrics.WEBSOCKET_IN.add()
        await super().handle_message(message)

    async def send_message(self, message: Message) -> None:
        metrics.WEBSOCKET_OUT.add()
        await super().send_message(message)


class TextFrames(ASGIWebSocketAdapter):
    """Every message as a text frame, as graphql-transport-ws specifies: Strawberry sends
    bytes from the JSON encoder (orjson's) as binary frames, which graphql-ws and browsers
    refuse ("Message is missing the 'type' property")."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = CountedMessages
    websocket_adapter_class = TextFrames

    def __init__(self, settings: Settings) -> None:
        schema = build_schema(settings)
        super().__init__(
            schema,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s),
        )
        self.settings = settings
        self.our_schema = schema
        assets = graphiql.assets_dir(settings)
        self.local_graphiql = graphiql.installed(assets, graphiql.PAGE)
        self.page = graphiql.served_locally(graphiql.PAGE) if self.local_graphiql else graphiql.PAGE
        self.max_subscriptions_per_connection = settings.ws_max_subscriptions
        self.tokens = (
            Tokens(settings.jwt_algorithm, settings.jwt_key, settings.jwt_audience)
            if settings.jwt_algorithm and settings.jwt_key
            else None
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        """The request's context; `graphql` below has authenticated an HTTP request already,
        `on_ws_connect` authenticates a WebSocket on `connection_init`."""
        resources: Resources = request.state.resources
        user = request.state.user
        return Context(
            db=resources.db,
            settings=self.settings,
            loaders=make_loaders(resources.db, resources.cache),
            user=user,
            request_id=request.state.request_id,
            limiter=resources.limiter,
            jobs=resources.jobs,
            persisted=resources.persisted,
            client=_client(request, user),
            response=response if isinstance(response, Response) else None,
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """`connection_init` carries the credentials (browsers cannot set headers on a
        WebSocket): {"authorization": "Bearer <key or token>"}. Bad ones close the socket
        with 4403; none at all is an anonymous connection."""
        params = {k.lower(): v for k, v in (context.connection_params or {}).items()}
        authorization = params.get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        if authorization:
            try:
                context.user = await authenticate(context.db, authorization, self.tokens)
            except CidadaoError as exc:
                raise ConnectionRejectionError({"message": exc.message, **exc.extensions}) from None
            if context.user is not None:
                context.client = f"user:{context.user.id}"
        return {"user": context.user.id} if context.user else None

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a browser's GET with neither a query nor a persisted-query hash."""
        params = request.query_params
        return super().should_render_graphql_ide(request) and params.get("extensions") is None

    async def answer_compiled(self, request: Request, operation: dict[str, Any]) -> Response | None:
        """A plain JSON POST answered on the compiled path without the view's own request
        handling (the body is parsed already); None when the ordinary path must answer, and
        the view then handles the request as always. Only answers the view would give
        byte for byte: its JSON, its status (a throttled one included), its headers."""
        query, variables = operation.get("query"), operation.get("variables")
        name = operation.get("operationName")
        if (
            not isinstance(query, str)
            or not isinstance(variables, dict | None)
            or not isinstance(name, str | None)
            or operation.get("extensions")
        ):
            return None
        sub = Response()
        context = await self.get_context(request, sub)
        result = await self.our_schema.execute_compiled(query, variables, name, context)
        if result is None:
            return None
        return Response(
            self.encode_json(await self.process_result(request, result)),
            status_code=sub.status_code,
            media_type="application/json",
            headers=_extra(sub),
        )

    @property
    def graphql_ide_html(self) -> str:
        return self.page

    def encode_json(self, data: object) -> bytes:
        if self.settings.json_encoder == "orjson":
            return orjson.dumps(data)
        encoded = super().encode_json(data)
        return encoded if isinstance(encoded, bytes) else encoded.encode()


def _client(connection: HTTPConnection, user: User | None) -> str:
    if user is not None:
        return f"user:{user.id}"
    return f"ip:{connection.client.host if connection.client else '?'}"


def _request_id(request: HTTPConnection) -> str:
    """The caller's X-Request-ID when it is sane, else a new one; the logs carry it too."""
    given = request.headers.get("x-request-id", "")
    request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()
    REQUEST_ID.set(request_id)
    return request_id


def _error_response(
    error: CidadaoError, status: int, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    metrics.ERRORS.labels(error.code).inc()
    extensions = {**error.extensions, "requestId": request_id}
    body = {"errors": [{"message": error.message, "extensions": extensions}]}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id, **(headers or {})},
    )


def _browser(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


async def _operation(request: Request) -> dict[str, Any]:
    """query, operationName and variables of a single GraphQL request; {} for anything else
    (a batch, a form, a browser asking for GraphiQL, a body that does not parse)."""
    try:
        if request.method == "GET":
            if "text/html" in request.headers.get("accept", ""):
                return {}
            params: dict[str, Any] = dict(request.query_params)
            for name in ("variables", "extensions"):  # URL-encoded JSON
                if params.get(name):
                    params[name] = orjson.loads(params[name])
            return params
        if request.headers.get("content-type", "").startswith("application/json"):
            body = orjson.loads(await request.body())
            if not isinstance(body, dict | list):
                raise HTTPException(400, "the body must be a JSON object (or an array of them)")
            return body if isinstance(body, dict) else {}
    except orjson.JSONDecodeError:
        pass
    return {}


def _bad_request(exc: HTTPException) -> Response:
    body = {"errors": [{"message": exc.reason, "extensions": {"code": "BAD_REQUEST"}}]}
    return Response(orjson.dumps(body), status_code=exc.status_code, media_type="application/json")


def _is_mutation(operation: dict[str, Any]) -> bool:
    query, name = operation.get("query"), operation.get("operationName")
    if not isinstance(query, str) or not isinstance(name, str | None):
        return False
    found = operation_of(query, name)
    return found is not None and found[1].operation is OperationType.MUTATION


GRAPHQL_RESPONSE = "application/graphql-response+json"
# Errors that mean the request was not a valid GraphQL request: nothing was executed.
REQUEST_ERRORS = frozenset({
    "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "TOO_MANY_TOKENS",
    "QUERY_TOO_DEEP", "TOO_MANY_ALIASES", "TOO_MANY_FIELDS",
})  # fmt: skip


def _wants(request: Request) -> str | None:
    """The media type to answer with, per GraphQL over HTTP: graphql-response+json when the
    client accepts it, application/json when it accepts that (or anything, or says
    nothing), None when it accepts neither."""
    accept = request.headers.get("accept", "")
    if not accept.strip() or "*/*" in accept or "application/*" in accept:
        return GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else "application/json"
    if GRAPHQL_RESPONSE in accept:
        return GRAPHQL_RESPONSE
    return "application/json" if "application/json" in accept else None


def _negotiated(request: Request, response: Response) -> Response:
    """With application/graphql-response+json, a request error (nothing executed) is a 400
    without `data`; with application/json, everything GraphQL answers is a 200."""
    wanted = _wants(request)
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
        headers=_extra(response),
    )


def _extra(response: Response) -> dict[str, str]:
    skip = {"content-type", "content-length"}
    return {k: v for k, v in response.headers.items() if k not in skip}


def _answer(request: Request, body: bytes, request_id: str, ttl: int, cache: str) -> Response:
    """A public answer; over GET it carries an ETag and may be kept by browsers and CDNs."""
    headers = {"x-request-id": request_id, "x-cache": cache}
    if request.method == "GET":
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'
        headers |= {"etag": etag, "cache-control": f"public, max-age={ttl}"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
    return Response(body, media_type=_wants(request) or "application/json", headers=headers)


def compression(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """zstd, Brotli or gzip above 1 KB, for requests that accept one of them."""

    def wrap(app: ASGIApp) -> ASGIApp:
        compress = CompressMiddleware(
            app,
            minimum_size=1024,
            brotli_quality=settings.compression_level,
            zstd_level=3,
            gzip_level=6,
        )
        return CompressWhenAsked(app, compress)

    return wrap


GC_YOUNG_THRESHOLD = 10_000


def create_app(
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
    limiter_clock: Callable[[], float] | None = None,
) -> Starlette:
    """The application; `clock` is what sessions read the time from, `limiter_clock` what
    the cost buckets do (tests move them)."""
    settings = settings or Settings.from_env()
    view = GraphQLView(settings)
    tokens = view.tokens
    sessions = (
        Sessions(settings.session_secret, settings.session_ttl_s, settings.session_idle_ttl_s,
                 settings.session_cookie_secure, clock)
        if settings.session_secret
        else None
    )  # fmt: skip

    async def identify(request: Request) -> User | None:
        """The user behind the Authorization header or, failing that, the session cookie
        (only for requests a browser would have preflighted)."""
        resources: Resources = request.state.resources
        authorization = request.headers.get("authorization")
        if authorization or sessions is None or COOKIE not in request.cookies:
            return await authenticate(resources.db, authorization, tokens)
        check_preflighted(request)
        live = await sessions.session(resources.db, resources.cache, request.cookies[COOKIE])
        request.state.session = live  # its cookie is renewed on the way out
        return live.user

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        configure_tracing(settings)
        async with open_resources(settings, limiter_clock) as resources:
            responses = ResponseCache(
                resources.cache, settings.response_cache_ttl, settings.max_tokens
            )
            ticker = asyncio.create_task(_publish_metrics(resources))
            watcher = asyncio.create_task(health.watch(resources.db, resources.redis))
            # Everything allocated so far lives as long as the process: moved out of the
            # collector's sight, it is never scanned again (and stays shared after fork).
            gc.collect()
            gc.freeze()
            # A request makes thousands of objects and almost no cycles (about one in three
            # requests leaves one): at the default threshold (700) the young generation is
            # scanned once or twice per request, mostly to find objects of requests still
            # in flight. benchmarks/compiled.py: 7 % of the nested page's CPU, then 1-2 %.
            gc.set_threshold(GC_YOUNG_THRESHOLD)
            try:
                yield {"resources": resources, "responses": responses}
            finally:
                ticker.cancel()
                watcher.cancel()  # awaited: it may hold a connection the pools wait for
                await asyncio.gather(watcher, return_exceptions=True)
                metrics.process_ended()

    async def graphql(request: Request) -> Response:
        started = time.perf_counter()
        request.state.operation_name = None
        request.state.answered_by = "refused"
        response = await answer(request)
        live: Session | None = getattr(request.state, "session", None)
        if sessions is not None and live is not None:
            sessions.renew(response, request.cookies[COOKIE], live)
        label = metrics.operation_label(request.state.operation_name)
        metrics.REQUEST_DURATION.labels(label, request.state.answered_by).observe(
            time.perf_counter() - started
        )
        return response

    async def answer(request: Request) -> Response:
        resources: Resources = request.state.resources
        responses: ResponseCache = request.state.responses
        request_id = _request_id(request)
        try:
            request.state.user = await identify(request)
        except CsrfPrevented as exc:
            return _error_response(exc, 400, request_id)
        except CidadaoError as exc:
            return _error_response(exc, 401, request_id, {"www-authenticate": "Bearer"})
        request.state.request_id = request_id
        wanted = _wants(request)
        if wanted is None and not _browser(request):
            return Response(
                orjson.dumps({"errors": [{"message": f"answers are {GRAPHQL_RESPONSE} or application/json",
                                          "extensions": {"code": "NOT_ACCEPTABLE"}}]}),
                status_code=406, media_type="application/json",
            )  # fmt: skip
        if request.method == "POST" and not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return Response(
                orjson.dumps({"errors": [{"message": "POST bodies are application/json",
                                          "extensions": {"code": "UNSUPPORTED_MEDIA_TYPE"}}]}),
                status_code=415, media_type="application/json",
            )  # fmt: skip
        try:
            operation = await _operation(request)
        except HTTPException as exc:
            return _bad_request(exc)
        if operation and (operation.get("extensions") or settings.persisted_queries_only):
            # Resolved here, before the response cache, so that a hash is registered even
            # when the answer comes from the cache (execution resolves it again: cheap).
            try:
                query = await resources.persisted.resolve(
                    operation.get("query"), operation.get("extensions")
                )
            except CidadaoError as exc:
                return _error_response(exc, 200, request_id)
            operation = {**operation, "query": query}
        name = operation.get("operationName")
        request.state.operation_name = name if isinstance(name, str) else None
        if request.method == "GET" and _is_mutation(operation):
            return Response(
                orjson.dumps({"errors": [{"message": "mutations are POST only",
                                          "extensions": {"code": "METHOD_NOT_ALLOWED"}}]}),
                status_code=405, media_type="application/json", headers={"allow": "POST"},
            )  # fmt: skip
        key = responses.key(operation)
        if key is not None:
            cached = await responses.lookup(key)
            metrics.cache_lookup("response", "response", cached is not None)
            if cached is not None:
                request.state.answered_by = "cache"
                return _answer(request, cached.encode(), request_id, responses.ttl, "hit")
        request.state.answered_by = "executed"
        compiled = (
            await view.answer_compiled(request, operation)
            if request.method == "POST" and operation
            else None
        )
        try:
            response = compiled or await view.run(request)
        except HTTPException as exc:  # a request that is not GraphQL at all
            response = _bad_request(exc)
        response = _negotiated(request, response)
        if key is not None and response.status_code == 200:
            stored = await responses.store(key, orjson.loads(response.body))
            if stored is not None:
                # A GET answers with the body hits will send, so its ETag stays the same;
                # a POST keeps its own, with the throttle status of this very request.
                body = stored.encode() if request.method == "GET" else bytes(response.body)
                return _answer(request, body, request_id, responses.ttl, "miss")
        response.headers["x-request-id"] = request_id
        return response

    async def session(request: Request) -> Response:
        """POST: trade the Authorization header for a session cookie; DELETE: sign out,
        ending the session on the server (with `?all=true`, every session of its user)."""
        request_id = _request_id(request)
        if sessions is None:
            off = SessionsDisabled("sessions are off (SESSION_SECRET is not set)")
            return _error_response(off, 404, request_id)
        response = Response(status_code=204, headers={"x-request-id": request_id})
        resources: Resources = request.state.resources
        if request.method == "DELETE":
            try:
                await sessions.sign_out(resources.db, resources.cache, request, tokens)
            except BadUserInput as exc:
                return _error_response(exc, 400, request_id)
            except CidadaoError as exc:
                return _error_response(exc, 401, request_id, {"www-authenticate": "Bearer"})
            sessions.clear(response)
            return response
        try:
            user = await authenticate(resources.db, request.headers.get("authorization"), tokens)
        except CidadaoError as exc:
            return _error_response(exc, 401, request_id, {"www-authenticate": "Bearer"})
        if user is None:
            error = Unauthenticated("send the API key or token to sign in with as a Bearer")
            return _error_response(error, 401, request_id, {"www-authenticate": "Bearer"})
        await sessions.sign_in(resources.db, response, user)
        return response

    async def subscriptions(websocket: WebSocket) -> None:
        websocket.state.request_id = _request_id(websocket)
        websocket.state.user = None  # until connection_init says who it is
        await view.run(websocket)

    async def ready(request: Request) -> Response:
        """Readiness: 200 while this process can serve reads, which takes PostgreSQL with
        every migration applied; Redis failing makes it `degraded`, still 200 (reads go on
        without it). A load balancer sends traffic only while this is 200."""
        resources: Resources = request.state.resources
        checks = await health.check(resources.db, resources.redis)
        return health.readiness(checks, required=("database", "migrations"))

    async def live(_: Request) -> Response:
        """Liveness: the process and its event loop answer; nothing else is asked, so a
        database outage does not get every instance restarted."""
        return JSONResponse({"status": "ok"})

    async def exposition(_: Request) -> Response:
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)

    cors = (
        [Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                    allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                    allow_credentials=sessions is not None, max_age=600)]
        if settings.cors_origins
        else []
    )  # fmt: skip
    ide: list[BaseRoute] = []
    if view.local_graphiql:
        modules = graphiql.node_modules(graphiql.assets_dir(settings))
        ide.append(Mount(graphiql.MOUNT, StaticFiles(directory=modules)))
    return Starlette(
        middleware=[
            # Outermost first: refuse work beyond the concurrency limit before doing any,
            # refuse oversized bodies before anything reads them, compress what goes out
            # (only above 1 KB, only types that gain from it).
            Middleware(Overload, limit=settings.max_concurrent_requests),
            *cors,
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(CachedAnswers),
            Middleware(compression(settings)),
        ],
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", subscriptions),
            Route("/session", session, methods=["POST", "DELETE"]),
            Route("/health", ready, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route("/metrics", exposition, methods=["GET"]),
            *ide,
        ],
        lifespan=lifespan,
    )


async def _publish_metrics(resources: Resources) -> None:
    """Once a second: cache lookups into their counter, pool sizes into their gauges."""
    while True:
        metrics.flush()
        resources.db.publish_pool_sizes()
        await asyncio.sleep(1)
