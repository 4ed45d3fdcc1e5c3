"""graphql-transport-ws as Strawberry speaks it, held to the protocol where Strawberry is
lenient, and counted for the metrics:

- a message that is not an object with a `type`, or a `subscribe` without a string `id`
  and an object `payload`, closes the socket with 4400, as the protocol says (Strawberry
  raised on it and closed with no code);
- a `subscribe` whose parameters are wrong (`variables` not an object, a document of
  several operations that `operationName` does not pick from) gets an `error` message
  coded BAD_REQUEST, as over HTTP, not a masked internal error or the first operation run;
- one beyond WS_MAX_SUBSCRIPTIONS gets an `error` coded TOO_MANY_SUBSCRIPTIONS;
- credentials that cannot be checked on `connection_init` (PostgreSQL unavailable) close
  with 1013 (try again later): 4403 would tell the client its key is bad.
"""

from __future__ import annotations

from typing import Any

from cidadao_gql import metrics
from cidadao_gql.errors import CidadaoError, ServiceUnavailable, TooManySubscriptions
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.strawberry_internals import (
    BaseGraphQLTransportWSHandler,
    ConnectionInitMessage,
    ErrorMessage,
    Message,
    SubscribeMessage,
    connection_acknowledged,
    max_subscriptions,
    subscription_operations,
)
from cidadao_gql.web.graphql_params import checked, named_operation
from cidadao_gql.web.refusals import error_entry

TRY_AGAIN_LATER = 1013  # RFC 6455's registry: the server is overloaded or a dependency down


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Message) -> None:
        metrics.WEBSOCKET_IN.add()
        raw: Any = message
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            await self.handle_invalid_message("a message is a JSON object with a `type`")
            return
        await super().handle_message(message)

    async def send_message(self, message: Message) -> None:
        metrics.WEBSOCKET_OUT.add()
        await super().send_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ServiceUnavailable:  # raised through by the view's on_ws_connect
            await self.websocket.close(TRY_AGAIN_LATER, "credentials cannot be checked now")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        raw: Any = message
        if not isinstance(raw.get("id"), str) or not isinstance(raw.get("payload"), dict):
            await self.handle_invalid_message("`subscribe` carries a string `id` and a `payload`")
            return
        acknowledged = connection_acknowledged(self)
        if acknowledged and message["id"] not in subscription_operations(self):
            try:
                self._check(raw["payload"])
            except CidadaoError as exc:
                error: Any = error_entry(exc, self.context.request_id)
                await self.send_message(
                    ErrorMessage(id=message["id"], type="error", payload=[error])
                )
                return
        await super().handle_subscribe(message)

    def _check(self, payload: dict[str, Any]) -> None:
        """BAD_REQUEST or TOO_MANY_SUBSCRIPTIONS for an operation this socket cannot run."""
        limit = max_subscriptions(self)
        if limit is not None and len(subscription_operations(self)) >= limit:
            raise TooManySubscriptions(
                f"this connection runs {limit} operations already (WS_MAX_SUBSCRIPTIONS)",
                maxSubscriptions=limit,
            )
        checked(payload)
        query, name = payload.get("query"), payload.get("operationName")
        if isinstance(query, str):
            named_operation(query, name, self.context.settings.max_tokens)
