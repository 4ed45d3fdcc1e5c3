"""The endpoints: /graphql over HTTP and WebSocket, /session, /health, /metrics, /. Each is a
function of the request; what they share per app (the view, sessions) is a Site in the
lifespan's state, and the resources are there too."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from cidadao_gql import metrics
from cidadao_gql.data.apikeys import User, authenticate
from cidadao_gql.data.session_store import Session
from cidadao_gql.errors import (
    BadRequest,
    BadUserInput,
    CidadaoError,
    CsrfPrevented,
    NotAcceptable,
    Refused,
    ServiceUnavailable,
    SessionsDisabled,
    Unauthenticated,
)
from cidadao_gql.observability import request_id
from cidadao_gql.runtime.resources import Resources
from cidadao_gql.settings import Settings
from cidadao_gql.web import health
from cidadao_gql.web.graphql_params import Params, request_params
from cidadao_gql.web.media import GRAPHQL_RESPONSE, answer_type
from cidadao_gql.web.negotiation import browser, negotiated, public_answer
from cidadao_gql.web.refusals import BY_STATUS, refusal
from cidadao_gql.web.response_cache import ResponseCache
from cidadao_gql.web.sessions import COOKIE, Sessions, check_preflighted
from cidadao_gql.web.view import GraphQLView


class Endpoint:
    """An endpoint function as a plain ASGI app: its Request made, its Response sent. What
    it raises goes to the app's ExceptionMiddleware, which answers it with the same handlers
    as the wrapper Starlette puts around each function route (request_response), one layer
    and one wrapper of `send` fewer on every request (issue 16)."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Site:
    """What every endpoint of one app shares, made once by create_app."""

    settings: Settings
    view: GraphQLView
    sessions: Sessions | None


async def graphql(request: Request) -> Response:
    """GET and POST /graphql: the answer, the session's cookie renewed, the time recorded."""
    started = time.perf_counter()
    state = request.state  # (a property: looked up once, not at each use)
    site: Site = state.site
    state.operation_name = None
    state.answered_by = "refused"
    try:
        response = await _answer(request, site)
    except ServiceUnavailable as exc:  # PostgreSQL lost twice, outside GraphQL's masking
        response = unavailable(request, exc)
    if request.method == "GET" and (
        not response.headers.get("cache-control", "").startswith("public") or _credentials(request)
    ):
        # not a public answer of the response cache (a viewer's, a refusal), or one given
        # to a caller who said who they are: no browser or edge keeps it, and none serves
        # it to another caller
        response.headers["cache-control"] = "private, no-store"
        if "surrogate-key" in response.headers:
            del response.headers["surrogate-key"]
        response.headers.add_vary_header("Cookie, Authorization")
    live: Session | None = getattr(state, "session", None)
    if site.sessions is not None and live is not None:
        site.sessions.renew(response, request.cookies[COOKIE], live)
    metrics.request_answered(state.operation_name, state.answered_by, time.perf_counter() - started)
    return response


def _credentials(request: Request) -> bool:
    """Whether the request carried credentials: a key or token, or the session's cookie."""
    return "authorization" in request.headers or COOKIE in request.cookies


async def persisted(request: Request) -> Response:
    """GET /q/<sha256>?variables=…: a registered document by a short URL, the same request
    as GET /graphql with the hash in `extensions.persistedQuery` (edges and logs see one
    short, stable URL per operation)."""
    digest = request.path_params["digest"]
    extensions = orjson.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})
    query_string = request.scope["query_string"]
    extra = b"extensions=" + quote_from_bytes(extensions, safe="").encode()
    joined = query_string + b"&" + extra if query_string else extra
    return await graphql(Request({**request.scope, "query_string": joined}, request.receive))


async def _answer(request: Request, site: Site) -> Response:
    """GraphiQL for a browser; else who asks, what they accept, what they ask (checked),
    then the answer from the response cache or executed."""
    state = request.state
    if site.view.renders_ide(request):  # a page of no one's data: a signed-in browser gets it too
        return await site.view.render_graphql_ide(request)
    try:
        state.user = await _identify(request, site)
    except CsrfPrevented as exc:
        return refusal(request, exc, 400)
    except ServiceUnavailable as exc:  # the key could not be looked up: not a bad key
        return unavailable(request, exc)
    except CidadaoError as exc:
        return unauthenticated(request, exc)
    if answer_type(request.headers.get("accept")) is None and not browser(request):
        error = NotAcceptable(f"answers are {GRAPHQL_RESPONSE} or application/json")
        return refusal(request, error)
    resources: Resources = state.resources
    try:
        params = await request_params(request, site.settings, resources.persisted)
    except Refused as exc:
        return refusal(request, exc)
    except CidadaoError as exc:  # a persisted query's: Apollo clients read them in a 200
        return refusal(request, exc, 200)
    state.graphql = params
    operation = params if isinstance(params, dict) else {}
    name = operation.get("operationName")
    state.operation_name = name if isinstance(name, str) else None
    return await _cached_or_executed(request, site.view, operation)


async def _cached_or_executed(request: Request, view: GraphQLView, operation: Params) -> Response:
    """The answer kept in the response cache, or else executed (compiled when it can be)
    and kept when it is public."""
    responses: ResponseCache = request.state.responses
    rid = request_id(request)
    key = responses.key(operation) if operation and not _bulk(request) else None
    if key is not None:
        cached = await responses.lookup(key)
        metrics.cache_lookup("response", "response", cached is not None)
        if cached is not None:
            request.state.answered_by = "cache"
            response = public_answer(
                request, responses, key, cached, "hit", responses.tags(operation)
            )
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
    response = negotiated(request, response)
    if key is not None and response.status_code == 200:
        stored = await responses.store(key, orjson.loads(response.body))
        if stored is not None and request.method == "GET":
            # the body hits will send, so that its ETag stays the same
            return public_answer(request, responses, key, stored, "miss", responses.tags(operation))
        if stored is not None:  # a POST keeps its own, with this request's throttle status
            response.headers["x-cache"] = "miss"
    response.headers["x-request-id"] = rid
    return response


def _bulk(request: Request) -> bool:
    """Whether a bulk key asked. The response cache is not asked, nor are its answers kept:
    an export asks each page once, 10,000 pages of one would push every dashboard's answers
    out of the cache, and its 1,000-row pages, kept, would be answered to callers not
    allowed them."""
    user: User | None = getattr(request.state, "user", None)
    return user is not None and user.bulk


async def _identify(request: Request, site: Site) -> User | None:
    """The user behind the Authorization header or, failing that, the session cookie
    (only for requests a browser would have preflighted)."""
    resources: Resources = request.state.resources
    authorization = request.headers.get("authorization")
    if authorization or site.sessions is None or COOKIE not in request.cookies:
        return await authenticate(resources.db, authorization, site.view.tokens)
    check_preflighted(request)
    live = await site.sessions.session(resources.db, resources.cache, request.cookies[COOKIE])
    request.state.session = live  # its cookie is renewed on the way out
    return live.user


async def session(request: Request) -> Response:
    """POST: trade the Authorization header for a session cookie; DELETE: sign out,
    ending the session on the server (with `?all=true`, every session of its user)."""
    site: Site = request.state.site
    sessions, tokens = site.sessions, site.view.tokens
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
            return unavailable(request, exc)
        except CidadaoError as exc:
            return unauthenticated(request, exc)
        sessions.clear(response)
        return response
    try:
        user = await authenticate(resources.db, request.headers.get("authorization"), tokens)
    except ServiceUnavailable as exc:
        return unavailable(request, exc)
    except CidadaoError as exc:
        return unauthenticated(request, exc)
    if user is None:
        error = Unauthenticated("send the API key or token to sign in with as a Bearer")
        return unauthenticated(request, error)
    await sessions.sign_in(resources.db, response, user)
    return response


async def subscriptions(websocket: WebSocket) -> None:
    """/graphql over WebSocket (graphql-transport-ws)."""
    site: Site = websocket.state.site
    request_id(websocket)  # in its state, for the context
    websocket.state.user = None  # until connection_init says who it is
    await site.view.run(websocket)


async def ready(request: Request) -> Response:
    """Readiness: 200 while this process can serve reads, which takes PostgreSQL with
    every migration applied; Redis failing makes it `degraded`, still 200 (reads go on
    without it). A load balancer sends traffic only while this is 200."""
    resources: Resources = request.state.resources
    checks = await health.check(resources.db, resources.redis)
    return health.readiness(checks, required=("database", "migrations"))


async def home(request: Request) -> Response:
    """`/` leads to GraphiQL (GET /graphql in a browser): a new user opening the address
    printed by `serve` got a 404."""
    return RedirectResponse(request.scope.get("root_path", "") + "/graphql", status_code=307)


async def live(_: Request) -> Response:
    """Liveness: the process and its event loop answer; nothing else is asked, so a
    database outage does not get every instance restarted."""
    return JSONResponse({"status": "ok"}, headers=health.NO_STORE)


async def exposition(_: Request) -> Response:
    body, media_type = metrics.exposition()
    return Response(body, media_type=media_type, headers=health.NO_STORE)


def unavailable(request: Request, error: ServiceUnavailable) -> Response:
    return refusal(request, error, 503, {"retry-after": "1"})


def unauthenticated(request: Request, error: CidadaoError) -> Response:
    return refusal(request, error, 401, {"www-authenticate": "Bearer"})
