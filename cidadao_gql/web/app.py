"""The Starlette application: GraphQL at /graphql (GraphiQL for browsers) and registered
documents at /q/<sha256>, /session, /health, /metrics; the endpoints are in endpoints.py,
Strawberry's view in view.py."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from starlette_compress import add_compress_type

from cidadao_gql import metrics
from cidadao_gql.observability import configure_tracing
from cidadao_gql.runtime.resources import Resources, open_resources
from cidadao_gql.settings import Settings
from cidadao_gql.web import encodings, endpoints, graphiql, health
from cidadao_gql.web.endpoints import Endpoint, Site
from cidadao_gql.web.media import GRAPHQL_RESPONSE
from cidadao_gql.web.middleware import CachedAnswers, Cors, Gate, InFlight
from cidadao_gql.web.refusals import http_exception
from cidadao_gql.web.response_cache import ResponseCache
from cidadao_gql.web.sessions import Sessions
from cidadao_gql.web.view import GraphQLView

add_compress_type(GRAPHQL_RESPONSE)

GC_YOUNG_THRESHOLD = 10_000


class App(Starlette):
    """Starlette with one layer outside all of its own: `outermost`, the response cache's
    fast path, which answers a hit before any other layer runs and hands the rest to them.
    Without Starlette's error middleware: the Gate (middleware.py) answers what nothing
    else handled, and after an answer has started both only raise it on."""

    def __init__(self, outermost: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        self.outermost = outermost
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=self.exception_handlers)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return self.outermost(app)


def create_app(
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
    limiter_clock: Callable[[], float] | None = None,
) -> Starlette:
    """The application; `clock` is what sessions read the time from, `limiter_clock` what
    the cost buckets do (tests move them)."""
    settings = settings or Settings.from_env()
    sessions = (
        Sessions(settings.session_secret, settings.session_ttl_s, settings.session_idle_ttl_s,
                 settings.session_cookie_secure, clock)
        if settings.session_secret
        else None
    )  # fmt: skip
    site = Site(settings, GraphQLView(settings), sessions)
    cors = cors_options(settings, sessions is not None)
    flight = InFlight(settings.max_concurrent_requests)

    def fast_path(app: ASGIApp) -> ASGIApp:
        if not settings.response_cache_ttl:  # nothing is kept: no hit to look for
            return app
        return CachedAnswers(app, flight, settings.max_body_bytes,
                             Cors(app, **cors) if cors else None,
                             enabled=not settings.persisted_queries_only)  # fmt: skip

    app = App(
        fast_path,
        middleware=middleware(settings, cors, flight),
        routes=[
            Route("/graphql", Endpoint(endpoints.graphql), methods=["GET", "POST"], name="graphql"),
            Route("/q/{digest}", endpoints.persisted, methods=["GET"]),
            WebSocketRoute("/graphql", endpoints.subscriptions),
            Route("/session", endpoints.session, methods=["POST", "DELETE"]),
            Route("/health", endpoints.ready, methods=["GET"]),
            Route("/health/ready", endpoints.ready, methods=["GET"]),
            Route("/health/live", endpoints.live, methods=["GET"]),
            Route("/metrics", endpoints.exposition, methods=["GET"]),
            Route("/", endpoints.home, methods=["GET"]),
            *graphiql_files(settings, site.view),
        ],
        exception_handlers={StarletteHTTPException: http_exception},
        lifespan=lambda _: lifespan(site, limiter_clock),
    )
    # `/graphql/` is not `/graphql`: Starlette would answer a bare 307 with no body (and a
    # POST's client may not follow it); our JSON 404 says which path there is.
    app.router.redirect_slashes = False
    return app


def cors_options(settings: Settings, with_sessions: bool) -> dict[str, Any] | None:
    """Cors's options, for its middleware and the fast path's copy; None without origins."""
    if not settings.cors_origins:
        return None
    return {"allow_origins": list(settings.cors_origins), "allow_methods": ["GET", "POST", "DELETE"],
            "allow_headers": ["*"], "allow_credentials": with_sessions, "max_age": 600}  # fmt: skip


def middleware(
    settings: Settings, cors: dict[str, Any] | None, flight: InFlight
) -> list[Middleware]:
    """Outermost first (inside the fast path, App's): CORS (its headers on every answer,
    refusals included), then the Gate: a JSON 500 for what nothing else handled, HEAD as
    GET, refuse work beyond the concurrency limit before doing any, refuse oversized bodies
    before anything reads them, compress what goes out (only above 1 KB, only types that
    gain from it)."""
    gate = Middleware(Gate, flight=flight, max_bytes=settings.max_body_bytes,
                      compress=compression(settings))  # fmt: skip
    return [*([Middleware(Cors, **cors)] if cors else []), gate]


def graphiql_files(settings: Settings, view: GraphQLView) -> list[BaseRoute]:
    """GraphiQL's own files, when they are installed here (`cidadao-gql graphiql`)."""
    if not view.local_graphiql:
        return []
    modules = graphiql.node_modules(graphiql.assets_dir(settings))
    return [Mount(graphiql.MOUNT, StaticFiles(directory=modules))]


@asynccontextmanager
async def lifespan(
    site: Site, limiter_clock: Callable[[], float] | None
) -> AsyncIterator[dict[str, Any]]:
    """Every resource opened for the app's life; the endpoints find them, and the site, in
    each request's state."""
    settings = site.settings
    configure_tracing(settings)
    async with open_resources(settings, limiter_clock) as resources:
        responses = ResponseCache(
            resources.cache,
            settings.response_cache_ttl,
            settings.max_tokens,
            settings.compression_level,
            settings.edge_max_age,
            settings.edge_stale_while_revalidate,
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
            yield {"resources": resources, "responses": responses, "site": site}
        finally:
            ticker.cancel()
            watcher.cancel()  # awaited: it may hold a connection the pools wait for
            await asyncio.gather(watcher, return_exceptions=True)
            metrics.process_ended()


def compression(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """zstd, Brotli or gzip above 1 KB (the Gate calls it for requests that accept one)."""

    def wrap(app: ASGIApp) -> ASGIApp:
        return encodings.compression_middleware(app, settings.compression_level)

    return wrap


async def _publish_metrics(resources: Resources) -> None:
    """Once a second: cache lookups into their counter, pool sizes into their gauges."""
    while True:
        metrics.flush()
        resources.db.publish_pool_sizes()
        await asyncio.sleep(1)
