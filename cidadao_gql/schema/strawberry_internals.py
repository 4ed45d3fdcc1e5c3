"""Every part of Strawberry that is not its public API and that this package reads, in one
place: names from modules its documentation does not show (re-exported in __all__),
private and undocumented attributes (read or set here by small functions), the
converter's type map, a resolver's wrapped function, the `__Type.isOneOf` patch.
`tests/test_strawberry_boundary.py` checks that no other module imports or reads them.

Written against strawberry-graphql 0.341.2 (pinned in pyproject.toml).
`tests/schema/test_strawberry_internals.py` checks each function here against the
installed Strawberry, so an upgrade that moves one of them fails there, by name, instead
of deep inside a request (the compiled executor would quietly fall back, or a
connection would read every column).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, cast

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
)
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryList, StrawberryObjectDefinition, get_object_definition
from strawberry.types.execution import PreExecutionError
from strawberry.types.field import StrawberryField
from strawberry.types.graphql import OperationType
from strawberry.types.scalar import ScalarDefinition
from strawberry.utils.str_converters import to_camel_case

# Names from Strawberry modules it does not document, re-exported for the rest of the
# package (tests/schema/test_strawberry_internals.py checks each is still there).
__all__ = [
    "BaseGraphQLTransportWSHandler",
    "BaseRequestProtocol",
    "ConnectionInitMessage",
    "ErrorMessage",
    "Message",
    "OperationType",
    "PreExecutionError",
    "ScalarDefinition",
    "StrawberryList",
    "StreamResult",
    "SubscribeMessage",
    "WebSocketDisconnected",
    "to_camel_case",
]

# Where the converter keeps the StrawberryField behind a GraphQL field (its
# GraphQLCoreConverter.DEFINITION_BACKREF).
DEFINITION_BACKREF = "strawberry-definition"

# strawberry.Schema.execute's parameters after `self`, in order: our subclass overrides it
# and passes each one on by name.
EXECUTE_PARAMETERS = (
    "query",
    "variable_values",
    "context_value",
    "root_value",
    "operation_name",
    "allowed_operation_types",
    "operation_extensions",
)


def raw_info(info: Any) -> Any:
    """The graphql-core resolve info a `strawberry.Info` wraps (the compiled executor passes
    its own there, carrying the columns a connection reads)."""
    return getattr(info, "_raw_info", None)


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built."""
    built: GraphQLSchema = schema._schema
    return built


def object_definition(cls: type) -> StrawberryObjectDefinition:
    """What `@strawberry.type` (or input, or interface) recorded of a class."""
    return get_object_definition(cls, strict=True)


def strawberry_field(field: GraphQLField) -> StrawberryField | None:
    """The StrawberryField a GraphQL field was converted from; None for graphql-core's own
    (introspection's)."""
    found = (field.extensions or {}).get(DEFINITION_BACKREF)
    return found if isinstance(found, StrawberryField) else None


def plain_function(field: StrawberryField) -> Callable[[Any], Any] | None:
    """The function behind a resolver that takes only `self` (no info, no arguments), is
    synchronous and has no extensions or permissions: it can be called directly."""
    resolver = field.base_resolver
    if (
        resolver is None
        or resolver.is_async
        or resolver.arguments
        or field.extensions
        or getattr(field, "permission_classes", None)
    ):
        return None
    used = [p for p in resolver.reserved_parameters.values() if p is not None]
    if len(used) != 1 or getattr(used[0], "name", None) != "self":
        return None
    return cast("Callable[[Any], Any]", resolver.wrapped_func)


def resolver_function(cls: type, name: str) -> Callable[[Any], Any] | None:
    """The plain function behind the field `name` of a Strawberry type (see plain_function)."""
    field = object_definition(cls).get_field(name)
    return None if field is None else plain_function(field)


def enum_class(leaf: Any) -> type[Enum] | None:
    """The Python enum a GraphQL enum type was made from; None for any other type."""
    wrapped = getattr(leaf, "wrapped_cls", None)
    if (
        isinstance(leaf, GraphQLEnumType)
        and isinstance(wrapped, type)
        and issubclass(wrapped, Enum)
    ):
        return wrapped
    return None


def classes_of(schema: strawberry.Schema) -> dict[type, str]:
    """The GraphQL object type of each Python class the resolvers return (generic
    connections excluded: their specialisations name the type)."""
    found: dict[type, str] = {}
    type_map: Mapping[str, Any] = schema.schema_converter.type_map
    for name, converted in type_map.items():
        definition = getattr(converted, "definition", None)
        origin = getattr(definition, "origin", None)
        if isinstance(converted.implementation, GraphQLObjectType) and isinstance(origin, type):
            if getattr(definition, "is_graphql_generic", False):
                continue
            found.setdefault(origin, name)
    return found


def argument_converter(
    schema: strawberry.Schema,
) -> Callable[[StrawberryField, dict[str, Any]], dict[str, Any]]:
    """What Strawberry's resolver wrapper does to a field's arguments before each call:
    from graphql-core's values (by GraphQL name) to the resolver's (by Python name, input
    objects made into their classes). The compiled executor does it once per plan and set
    of variables instead of once per parent."""
    config, registry = schema.config, schema.schema_converter.scalar_registry

    def convert(field: StrawberryField, values: dict[str, Any]) -> dict[str, Any]:
        return convert_arguments(values, field.arguments, scalar_registry=registry, config=config)

    return convert


def field_python_name(field: StrawberryField) -> str:
    """The Python attribute a field reads (its name before camel-casing)."""
    return field.python_name


def field_metadata(field: StrawberryField) -> Mapping[str, Any]:
    """What `strawberry.field(metadata=...)` recorded on a field; empty if nothing."""
    return field.metadata or {}


def set_field_directives(field: StrawberryField, directives: list[Any]) -> None:
    """Replace a field's schema directives after decoration (before the schema is built)."""
    field.directives = directives


def subscription_operations(handler: BaseGraphQLTransportWSHandler[Any, Any]) -> Mapping[str, Any]:
    """The operations a graphql-transport-ws connection runs, by subscription id."""
    return handler.operations


def connection_acknowledged(handler: BaseGraphQLTransportWSHandler[Any, Any]) -> bool:
    """Whether the connection has been sent `connection_ack`."""
    return handler.connection_acknowledged


def max_subscriptions(handler: BaseGraphQLTransportWSHandler[Any, Any]) -> int | None:
    """The view's cap on a connection's operations, as the handler was given it."""
    return handler.max_subscriptions_per_connection


def set_max_subscriptions(view: Any, limit: int | None) -> None:
    """Cap the operations of each graphql-transport-ws connection the view opens."""
    view.max_subscriptions_per_connection = limit


def adapter_socket(adapter: Any) -> Any:
    """The framework's WebSocket a Strawberry WebSocket adapter wraps."""
    return adapter.ws


def encode_json_string(adapter: Any, message: Mapping[str, object]) -> str:
    """The message as text, by the JSON encoder of the view the adapter serves."""
    text: str = adapter.view.encode_json_string(message)
    return text


def install_view_hooks(
    view: type, *, transport_ws: type, websocket_adapter: type, request_adapter: type
) -> None:
    """Set the classes an ASGI view makes its graphql-transport-ws handler, its WebSocket
    adapter and its request adapter from."""
    view.graphql_transport_ws_handler_class = transport_ws  # type: ignore[attr-defined]
    view.websocket_adapter_class = websocket_adapter  # type: ignore[attr-defined]
    view.request_adapter_class = request_adapter  # type: ignore[attr-defined]


def patch_is_one_of(schema: GraphQLSchema) -> None:
    """Strawberry's `__Type.isOneOf` reads `extensions` of whatever type it is asked about,
    and a list or non-null wrapper has none: an internal error, with a traceback logged,
    for every `fields { type { isOneOf } }` of an introspection query. Only an input
    object can be one-of; anything else answers false."""
    introspected = schema.type_map["__Type"]
    assert isinstance(introspected, GraphQLObjectType)
    field = introspected.fields["isOneOf"]
    strawberry_resolve = field.resolve
    assert strawberry_resolve is not None, "Strawberry no longer adds isOneOf: drop this"

    def resolve(type_: Any, info: Any) -> Any:
        if not isinstance(type_, GraphQLInputObjectType):
            return False
        return strawberry_resolve(type_, info)

    field.resolve = resolve
