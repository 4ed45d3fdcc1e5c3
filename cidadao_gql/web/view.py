"""Strawberry's view of our schema: how it reads a checked request, makes a context,
authenticates a WebSocket, and answers on the compiled path without its own handling."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, StarletteRequestAdapter
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from cidadao_gql.data.apikeys import Tokens, User, authenticate
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.errors import CidadaoError, ServiceUnavailable, Unauthenticated
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.runtime.resources import Resources
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.strawberry_internals import (
    BaseRequestProtocol,
    WebSocketDisconnected,
    adapter_socket,
    encode_json_string,
    install_view_hooks,
    set_max_subscriptions,
)
from cidadao_gql.settings import Settings
from cidadao_gql.web import graphiql
from cidadao_gql.web.graphql_params import Params
from cidadao_gql.web.negotiation import extra_headers
from cidadao_gql.web.refusals import error_entry
from cidadao_gql.web.subscriptions import TransportWS


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
            await adapter_socket(self).send_text(encode_json_string(self, message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLView(GraphQL[Context, None]):
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
        set_max_subscriptions(self, settings.ws_max_subscriptions)
        self.tokens = (
            Tokens(settings.jwt_algorithm, settings.jwt_key, settings.jwt_audience)
            if settings.jwt_algorithm and settings.jwt_key
            else None
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        """The request's context; the endpoint has authenticated an HTTP request already,
        `on_ws_connect` authenticates a WebSocket on `connection_init`."""
        state = request.state
        resources: Resources = state.resources
        user = state.user
        return Context(
            db=resources.db,
            settings=self.settings,
            # A bulk key's rows are read once (an export): through the tiers they would
            # cost it 39 % of its time and push out the rows dashboards share.
            loaders=Loaders(
                resources.db, resources.cache, cache_rows=user is None or not user.bulk
            ),
            user=user,
            request_id=state.request_id,
            limiter=resources.limiter,
            jobs=resources.jobs,
            persisted=resources.persisted,
            client=client_of(request, user),
            response=response if isinstance(response, Response) else None,
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """`connection_init` carries the credentials (browsers cannot set headers on a
        WebSocket): {"authorization": "Bearer <key or token>"}. Bad ones close the socket
        with 4403; ones that cannot be checked now with 1013 (TransportWS); none at all is an
        anonymous connection."""
        params = {k.lower(): v for k, v in (context.connection_params or {}).items()}
        authorization = params.get("authorization")
        try:
            if authorization is not None and not isinstance(authorization, str):
                raise Unauthenticated("`authorization` in connection_init is not a string.")
            if authorization:
                context.user = await authenticate(context.db, authorization, self.tokens)
        except ServiceUnavailable:
            raise  # not a bad key: the socket closes with "try again later"
        except CidadaoError as exc:
            # The body any refusal has (web/refusals.py); the socket closes with 4403.
            raise ConnectionRejectionError(error_entry(exc, context.request_id)) from None
        if context.user is not None:
            context.client = context.user.bucket
        return {"user": context.user.id} if context.user else None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        assert isinstance(request, CheckedRequest) and request.params is not None
        if isinstance(request.params, list):
            return [_request_data(params) for params in request.params]
        return _request_data(request.params)

    def renders_ide(self, request: Request) -> bool:
        # GET only (Strawberry's own first test), asked before an adapter is made for it:
        # 4 % of our process' Python on a POST answered by one statement (cProfile)
        return request.method == "GET" and self.should_render_graphql_ide(CheckedRequest(request))

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
        # PostgreSQL's JSON forwarded as it is, not decoded to be encoded again: orjson's
        forward = self.settings.json_encoder == "orjson"
        result = await self.our_schema.execute_compiled(query, variables, name, context, forward)
        if result is None:
            return None
        return Response(
            self.encode_json(await self.process_result(request, result)),
            status_code=sub.status_code,
            media_type="application/json",
            # (`sub` carries Content-Length alone unless execution added a header)
            headers=extra_headers(sub) if len(sub.raw_headers) > 1 else None,
        )

    @property
    def graphql_ide_html(self) -> str:
        return self.page

    def encode_json(self, data: object) -> bytes:
        if self.settings.json_encoder == "orjson":
            return orjson.dumps(data)
        encoded = super().encode_json(data)
        return encoded if isinstance(encoded, bytes) else encoded.encode()


install_view_hooks(
    GraphQLView,
    transport_ws=TransportWS,
    websocket_adapter=TextFrames,
    request_adapter=CheckedRequest,
)


def client_of(connection: HTTPConnection, user: User | None) -> str:
    """Whose bucket an operation is charged to: the user's, or else the address's."""
    if user is not None:
        return user.bucket
    return f"ip:{connection.client.host if connection.client else '?'}"
