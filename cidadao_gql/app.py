"""The Starlette application: GraphQL at /graphql (GraphiQL for browsers), /health."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from graphql import OperationType
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from starlette.websockets import WebSocket, WebSocketDisconnect
from starlette_compress import add_compress_type
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from cidadao_gql import encodings, graphiql, health, metrics
from cidadao_gql.apikeys import Tokens, User, authenticate
from cidadao_gql.errors import (
    BadRequest,
    BadUserInput,
    CidadaoError,
    MethodNotAllowed,
    NotAcceptable,
    Refused,
    ServiceUnavailable,
    Unauthenticated,
)
from cidadao_gql.graphql_params import (
    Params,
    chosen_operation,
    from_body,
    from_query_string,
    parsed,
    tokens,
)
from cidadao_gql.loaders import make_loaders
from cidadao_gql.media import GRAPHQL_RESPONSE, answer_type
from cidadao_gql.middleware import (
    BodyLimit,
    CachedAnswers,
    CompressWhenAsked,
    Cors,
    Overload,
    UnhandledErrors,
)
from cidadao_gql.observability import configure_tracing, request_id
from cidadao_gql.persisted import PersistedDocuments
from cidadao_gql.refusals import BY_STATUS, http_exception, refusal
from cidadao_gql.resources import Resources, open_resources
from cidadao_gql.response_cache import ResponseCache
from cidadao_gql.schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.expansion import schema_fields
from cidadao_gql.schema.limits import MAX_SCHEMA_FIELDS
from cidadao_gql.sessions import (
    COOKIE,
    CsrfPrevented,
    Session,
    Sessions,
    SessionsDisabled,
    check_preflighted,
)
from cidadao_gql.settings import Settings
from cidadao_gql.subscriptions import TransportWS

add_compress_type(GRAPHQL_RESPONSE)


class CheckedRequest(StarletteRequestAdapter):
    """The request as Strawberry's view reads it, carrying the parameters the endpoint
    read and checked (graphql_params), so that the view does not parse the body again."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.params: Params | list[Params] | None = getattr(request.state, "graphql", None)


def _request_data(params: Params) -> GraphQLRequestData:
    return GraphQLRequestData(
        query=params.get("query"),
        variables=params.get("variables"),
        operation_name=params.get("operationName"),
        extensions=params.get("extensions"),
    )


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
    graphql_transport_ws_handler_class = TransportWS
    websocket_adapter_class = TextFrames
    request_adapter_class = CheckedRequest

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
        with 4403; ones that cannot be checked now with 1013 (TransportWS); none at all is an
        anonymous connection."""
        params = {k.lower(): v for k, v in (context.connection_params or {}).items()}
        authorization = params.get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        if authorization:
            try:
                context.user = await authenticate(context.db, authorization, self.tokens)
            except ServiceUnavailable:
                raise  # not a bad key: the socket closes with "try again later"
            except CidadaoError as exc:
                raise ConnectionRejectionError({"message": exc.message, **exc.extensions}) from None
            if context.user is not None:
                context.client = f"user:{context.user.id}"
        return {"user": context.user.id} if context.user else None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        assert isinstance(request, CheckedRequest) and request.params is not None
        if isinstance(request.params, list):
            return [_request_data(params) for params in request.params]
        return _request_data(request.params)

    def renders_ide(self, request: Request) -> bool:
        return self.should_render_graphql_ide(CheckedRequest(request))

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


def _browser(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


async def _params(
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
        body = await request.body()
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

# Errors that mean the request was not a valid GraphQL request: nothing was executed.
REQUEST_ERRORS = frozenset({
    "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "TOO_MANY_TOKENS",
    "QUERY_TOO_DEEP", "TOO_MANY_ALIASES", "TOO_MANY_FIELDS",
})  # fmt: skip


def _negotiated(request: Request, response: Response) -> Response:
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
        headers=_extra(response),
    )


def _extra(response: Response) -> dict[str, str]:
    skip = {"content-type", "content-length"}
    return {k: v for k, v in response.headers.items() if k not in skip}


def _answer(
    request: Request, responses: ResponseCache, key: str, body: str, cache: str
) -> Response:
    """A public answer from the response cache, in the coding the request accepts (made
    once per answer: response_cache.Variants). Over GET it carries an ETag, one per coding,
    and may be kept by browsers and CDNs."""
    wanted = encodings.chosen(request.headers.get("accept-encoding"))
    coding, data = responses.variants.encoded(key, body, wanted)
    headers = {"x-request-id": request_id(request), "x-cache": cache}
    if coding != encodings.IDENTITY:
        headers["content-encoding"] = coding  # the compression middleware leaves it as it is
    headers["vary"] = "Accept-Encoding"  # once: CompressWhenAsked merges the middleware's
    if request.method == "GET":
        digest = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()
        etag = f'"{digest}"' if coding == encodings.IDENTITY else f'"{digest}-{coding}"'
        headers |= {"etag": etag, "cache-control": f"public, max-age={responses.ttl}"}
        matched = request.headers.get("if-none-match", "")
        if matched.strip() == "*" or etag in matched:  # `*`: any answer (RFC 9110 §13.1.2)
            return Response(status_code=304, headers=headers)
    media_type = answer_type(request.headers.get("accept")) or "application/json"
    return Response(data, media_type=media_type, headers=headers)


def compression(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """zstd, Brotli or gzip above 1 KB, for requests that accept one of them."""

    def wrap(app: ASGIApp) -> ASGIApp:
        return CompressWhenAsked(app, encodings.middleware(app, settings.compression_level))

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
                resources.cache,
                settings.response_cache_ttl,
                settings.max_tokens,
                settings.compression_level,
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
        try:
            response = await answer(request)
        except ServiceUnavailable as exc:  # PostgreSQL lost twice, outside GraphQL's masking
            response = _unavailable(request, exc)
        if request.method == "GET" and "cache-control" not in response.headers:
            # not a public answer of the response cache (a viewer's, a refusal): no browser
            # or edge keeps it, and none serves it to another caller
            response.headers["cache-control"] = "private, no-store"
            response.headers.add_vary_header("Cookie, Authorization")
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
        rid = request_id(request)
        if view.renders_ide(request):  # a page of no one's data: a signed-in browser gets it too
            return await view.render_graphql_ide(request)
        try:
            request.state.user = await identify(request)
        except CsrfPrevented as exc:
            return refusal(request, exc, 400)
        except ServiceUnavailable as exc:  # the key could not be looked up: not a bad key
            return _unavailable(request, exc)
        except CidadaoError as exc:
            return refusal(request, exc, 401, {"www-authenticate": "Bearer"})
        if answer_type(request.headers.get("accept")) is None and not _browser(request):
            error = NotAcceptable(f"answers are {GRAPHQL_RESPONSE} or application/json")
            return refusal(request, error)
        try:
            params = await _params(request, settings, resources.persisted)
        except Refused as exc:
            return refusal(request, exc)
        except CidadaoError as exc:  # a persisted query's: Apollo clients read them in a 200
            return refusal(request, exc, 200)
        request.state.graphql = params
        operation = params if isinstance(params, dict) else {}
        name = operation.get("operationName")
        request.state.operation_name = name if isinstance(name, str) else None
        key = responses.key(operation) if operation else None
        if key is not None:
            cached = await responses.lookup(key)
            metrics.cache_lookup("response", "response", cached is not None)
            if cached is not None:
                request.state.answered_by = "cache"
                response = _answer(request, responses, key, cached, "hit")
                metrics.response_hit("full", response.headers.get("content-encoding", "identity"))
                return response
        request.state.answered_by = "executed"
        compiled = (
            await view.answer_compiled(request, operation)
            if request.method == "POST" and operation
            else None
        )
        try:
            response = compiled or await view.run(request)
        except HTTPException as exc:  # Strawberry's refusal of what it cannot run
            kind = BY_STATUS.get(exc.status_code, BadRequest)
            response = refusal(request, kind(exc.reason), exc.status_code)
        response = _negotiated(request, response)
        if key is not None and response.status_code == 200:
            stored = await responses.store(key, orjson.loads(response.body))
            if stored is not None and request.method == "GET":
                # the body hits will send, so that its ETag stays the same
                return _answer(request, responses, key, stored, "miss")
            if stored is not None:  # a POST keeps its own, with this request's throttle status
                response.headers["x-cache"] = "miss"
        response.headers["x-request-id"] = rid
        return response

    async def session(request: Request) -> Response:
        """POST: trade the Authorization header for a session cookie; DELETE: sign out,
        ending the session on the server (with `?all=true`, every session of its user)."""
        if sessions is None:
            off = SessionsDisabled("sessions are off (SESSION_SECRET is not set)")
            return refusal(request, off, 404)
        response = Response(status_code=204, headers={"x-request-id": request_id(request)})
        resources: Resources = request.state.resources
        if request.method == "DELETE":
            try:
                await sessions.sign_out(resources.db, resources.cache, request, tokens)
            except BadUserInput as exc:
                return refusal(request, exc, 400)
            except ServiceUnavailable as exc:
                return _unavailable(request, exc)
            except CidadaoError as exc:
                return refusal(request, exc, 401, {"www-authenticate": "Bearer"})
            sessions.clear(response)
            return response
        try:
            user = await authenticate(resources.db, request.headers.get("authorization"), tokens)
        except ServiceUnavailable as exc:
            return _unavailable(request, exc)
        except CidadaoError as exc:
            return refusal(request, exc, 401, {"www-authenticate": "Bearer"})
        if user is None:
            error = Unauthenticated("send the API key or token to sign in with as a Bearer")
            return refusal(request, error, 401, {"www-authenticate": "Bearer"})
        await sessions.sign_in(resources.db, response, user)
        return response

    async def subscriptions(websocket: WebSocket) -> None:
        request_id(websocket)  # in its state, for the context
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
        [Middleware(Cors, allow_origins=list(settings.cors_origins),
                    allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                    allow_credentials=sessions is not None, max_age=600)]
        if settings.cors_origins
        else []
    )  # fmt: skip
    ide: list[BaseRoute] = []
    if view.local_graphiql:
        modules = graphiql.node_modules(graphiql.assets_dir(settings))
        ide.append(Mount(graphiql.MOUNT, StaticFiles(directory=modules)))
    app = Starlette(
        middleware=[
            # Outermost first: a JSON 500 for what nothing else handled; refuse work beyond
            # the concurrency limit before doing any,
            # refuse oversized bodies before anything reads them, compress what goes out
            # (only above 1 KB, only types that gain from it).
            Middleware(UnhandledErrors),
            Middleware(Overload, limit=settings.max_concurrent_requests),
            *cors,
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(CachedAnswers, enabled=not settings.persisted_queries_only),
            Middleware(compression(settings)),
        ],
        routes=[
            _without_head(Route("/graphql", graphql, methods=["GET", "POST"])),
            WebSocketRoute("/graphql", subscriptions),
            Route("/session", session, methods=["POST", "DELETE"]),
            Route("/health", ready, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route("/metrics", exposition, methods=["GET"]),
            *ide,
        ],
        exception_handlers={StarletteHTTPException: http_exception},
        lifespan=lifespan,
    )
    # `/graphql/` is not `/graphql`: Starlette would answer a bare 307 with no body (and a
    # POST's client may not follow it); our JSON 404 says which path there is.
    app.router.redirect_slashes = False
    return app


def _without_head(route: Route) -> Route:
    """Starlette routes HEAD wherever GET goes; a GraphQL answer has no HEAD form, so it gets
    the 405 (with `Allow: GET, POST`) every other method does."""
    assert route.methods is not None
    route.methods.discard("HEAD")
    return route


def _unavailable(request: Request, error: ServiceUnavailable) -> Response:
    return refusal(request, error, 503, {"retry-after": "1"})


async def _publish_metrics(resources: Resources) -> None:
    """Once a second: cache lookups into their counter, pool sizes into their gauges."""
    while True:
        metrics.flush()
        resources.db.publish_pool_sizes()
        await asyncio.sleep(1)
