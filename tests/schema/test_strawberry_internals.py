"""The Strawberry internals we read (cidadao_gql.schema.strawberry_internals), checked
against the installed Strawberry: an upgrade that moves one fails here, by name."""

from __future__ import annotations

import inspect
from enum import Enum
from typing import Any

import orjson
import strawberry
from graphql import GraphQLObjectType, GraphQLSchema, GraphQLString
from strawberry.types.field import StrawberryField

from cidadao_gql.schema import strawberry_internals as internals
from cidadao_gql.schema.contracts import Contract
from cidadao_gql.schema.relay import Node
from cidadao_gql.settings import Settings

seen: list[strawberry.Info] = []


@strawberry.enum
class Colour(Enum):
    RED = "red"


@strawberry.type
class Thing:
    pk: strawberry.Private[int]
    name: str
    colour: Colour

    @strawberry.field
    def label(self) -> str:
        return self.name.upper()

    @strawberry.field
    def greet(self, info: strawberry.Info) -> str:
        seen.append(info)
        return f"hi from {info.context['who']}"

    @strawberry.field
    async def later(self) -> str:
        return self.name


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        return Thing(pk=1, name="ana", colour=Colour.RED)


schema = strawberry.Schema(query=Query)


def thing_field(name: str) -> Any:
    thing = internals.graphql_schema(schema).type_map["Thing"]
    assert isinstance(thing, GraphQLObjectType)
    return thing.fields[name]


def test_the_graphql_core_schema_is_the_one_strawberry_runs() -> None:
    built = internals.graphql_schema(schema)
    assert isinstance(built, GraphQLSchema)
    assert "Thing" in built.type_map


def test_a_graphql_field_leads_back_to_its_strawberry_field() -> None:
    found = internals.strawberry_field(thing_field("label"))
    assert isinstance(found, StrawberryField) and found.python_name == "label"
    introspected = internals.graphql_schema(schema).type_map["__Type"]
    assert isinstance(introspected, GraphQLObjectType)
    assert internals.strawberry_field(introspected.fields["name"]) is None


def test_the_plain_function_of_a_self_only_resolver() -> None:
    label = internals.plain_function(internals.strawberry_field(thing_field("label")))  # type: ignore[arg-type]  # found above
    assert label is not None and label(Thing(pk=1, name="ana", colour=Colour.RED)) == "ANA"
    assert internals.resolver_function(Thing, "label") is label
    assert internals.resolver_function(Thing, "greet") is None  # it takes info
    assert internals.resolver_function(Thing, "later") is None  # it is async
    assert internals.resolver_function(Thing, "name") is None  # no resolver at all


def test_node_id_is_found_by_identity() -> None:
    """The compiled planner reads Node.id's ids straight from rows, having found the
    resolver by identity (it used to match `__qualname__ == "Node.id"`)."""
    node_id = internals.resolver_function(Node, "id")
    assert node_id is not None and node_id.__name__ == "id"


def test_raw_info_is_what_graphql_core_passed() -> None:
    seen.clear()
    result = schema.execute_sync("{ thing { greet } }", context_value={"who": "here"})
    assert result.errors is None and result.data == {"thing": {"greet": "hi from here"}}
    (info,) = seen
    raw = internals.raw_info(info)
    assert raw.field_name == "greet" and raw.context == {"who": "here"}


def test_a_resolver_runs_on_the_compiled_executors_own_info() -> None:
    """The compiled executor calls the converted resolvers with an info of its own holding
    only these attributes; Strawberry's wrapper must need no more of it."""

    class Minimal:
        __slots__ = ("columns", "context", "field_name", "path")

        def __init__(self) -> None:
            self.context = {"who": "the planner"}
            self.field_name = ""
            self.path = None
            self.columns = frozenset({"id"})

    seen.clear()
    resolve = thing_field("greet").resolve
    told = Minimal()
    assert resolve(Thing(pk=1, name="ana", colour=Colour.RED), told) == "hi from the planner"
    assert internals.raw_info(seen[0]) is told


def test_the_enum_class_behind_a_graphql_enum() -> None:
    colour = internals.graphql_schema(schema).type_map["Colour"]
    assert internals.enum_class(colour) is Colour
    assert internals.enum_class(GraphQLString) is None


def test_classes_of_a_schema() -> None:
    assert internals.classes_of(schema)[Thing] == "Thing"
    from cidadao_gql.execution.executable_schema import build_schema

    ours = internals.classes_of(build_schema(Settings()))
    assert ours[Contract] == "Contract"


def test_execute_takes_the_parameters_we_pass_on() -> None:
    parameters = tuple(inspect.signature(strawberry.Schema.execute).parameters)
    assert parameters[1:] == internals.EXECUTE_PARAMETERS
    streamed = set(inspect.signature(strawberry.Schema.stream).parameters) - {"self"}
    assert streamed == set(internals.EXECUTE_PARAMETERS)


def test_the_private_names_we_reexport_are_there() -> None:
    """Each name the adapter takes from a Strawberry module that is not documented."""
    assert inspect.isclass(internals.BaseGraphQLTransportWSHandler)
    assert inspect.isclass(internals.BaseRequestProtocol)
    assert inspect.isclass(internals.ScalarDefinition)
    assert inspect.isclass(internals.StrawberryList)
    assert issubclass(internals.WebSocketDisconnected, Exception)
    assert {t.value for t in internals.OperationType} == {"query", "mutation", "subscription"}
    assert internals.PreExecutionError(data=None, errors=[]).errors == []
    assert internals.to_camel_case("assumed_size") == "assumedSize"
    for message in ("ConnectionInitMessage", "ErrorMessage", "SubscribeMessage"):
        assert "type" in getattr(internals, message).__annotations__
    assert internals.StreamResult is not None


def test_a_fields_python_name_metadata_and_directives() -> None:
    @strawberry.type
    class Tagged:
        some_name: str = strawberry.field(metadata={"k": 1})
        plain: str

    definition = internals.object_definition(Tagged)
    field, plain = definition.fields
    assert internals.field_python_name(field) == "some_name"
    assert internals.field_metadata(field) == {"k": 1}
    assert internals.field_metadata(plain) == {}
    internals.set_field_directives(field, ["marker"])
    assert list(field.directives) == ["marker"]


@strawberry.input
class Window:
    from_year: int = 2000


@strawberry.type
class Windowed:
    @strawberry.field
    def count(self, first_count: int = 1, window: Window | None = None) -> int:
        return first_count


def test_arguments_convert_as_the_resolver_wrapper_converts_them() -> None:
    """By Python name, input objects made into their classes, absent ones left out."""
    built = strawberry.Schema(query=Windowed)
    query = internals.graphql_schema(built).query_type
    assert query is not None
    field = internals.strawberry_field(query.fields["count"])
    assert field is not None
    convert = internals.argument_converter(built)
    converted = convert(field, {"firstCount": 3, "window": {"fromYear": 2020}})
    assert converted == {"first_count": 3, "window": Window(from_year=2020)}
    assert convert(field, {"firstCount": 2}) == {"first_count": 2}


def test_the_transport_ws_handler_keeps_what_we_read() -> None:
    """Set in its __init__: the operations by id, whether `connection_ack` went out, and the
    view's cap on operations."""
    source = inspect.getsource(internals.BaseGraphQLTransportWSHandler.__init__)
    for attribute in ("operations", "connection_acknowledged", "max_subscriptions_per_connection"):
        assert f"self.{attribute}" in source
    handler: Any = object.__new__(internals.BaseGraphQLTransportWSHandler)
    handler.operations = {"1": "op"}
    handler.connection_acknowledged = True
    handler.max_subscriptions_per_connection = 3
    assert internals.subscription_operations(handler) == {"1": "op"}
    assert internals.connection_acknowledged(handler) is True
    assert internals.max_subscriptions(handler) == 3


def test_the_asgi_view_reads_the_hooks_we_set() -> None:
    from strawberry.asgi import ASGIWebSocketAdapter, GraphQL

    for hook in (
        "graphql_transport_ws_handler_class",
        "websocket_adapter_class",
        "request_adapter_class",
    ):
        assert getattr(GraphQL, hook, None) is not None, hook
    view = GraphQL(schema)
    assert "max_subscriptions_per_connection" in inspect.getsource(type(view).__mro__[1])
    internals.set_max_subscriptions(view, 4)
    assert view.max_subscriptions_per_connection == 4
    adapter = type("Adapter", (), {"view": view, "ws": "socket"})()
    assert orjson.loads(internals.encode_json_string(adapter, {"a": 1})) == {"a": 1}
    assert internals.adapter_socket(adapter) == "socket"
    assert "self.ws" in inspect.getsource(ASGIWebSocketAdapter.__init__)


def test_is_one_of_answers_false_for_wrappers() -> None:
    built = strawberry.Schema(query=Query)
    internals.patch_is_one_of(internals.graphql_schema(built))
    result = built.execute_sync('{ __type(name: "Thing") { fields { type { isOneOf } } } }')
    assert result.errors is None
    assert result.data is not None
    assert all(f["type"]["isOneOf"] is False for f in result.data["__type"]["fields"])


def _shape(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def _overridden() -> dict[type, tuple[str, ...]]:
    """Our subclasses of Strawberry's (and cross_web's) classes, and the methods of theirs
    we override (an `__init__` is listed when Strawberry constructs the class)."""
    from cidadao_gql.web.subscriptions import TransportWS
    from cidadao_gql.web.view import CheckedRequest, GraphQLView, TextFrames

    return {
        GraphQLView: (  # its __init__ is ours: we construct it, Strawberry does not
            "get_context", "on_ws_connect", "parse_http_body",
            "should_render_graphql_ide", "encode_json",
        ),
        TextFrames: ("send_json",),
        CheckedRequest: ("__init__",),
        TransportWS: (
            "handle_message", "send_message", "handle_connection_init", "handle_subscribe",
        ),
    }  # fmt: skip


def test_the_methods_we_override_keep_their_signatures() -> None:
    """Strawberry calls what we override: a method it renames or whose parameters change
    would leave ours uncalled, or called wrongly. Each must still be defined by a base class
    (the nearest one outside the package) with the parameters ours takes; and every method
    of ours that shadows a base's is listed here."""
    for ours, names in _overridden().items():
        bases = [c for c in ours.__mro__[1:] if not c.__module__.startswith("cidadao_gql")]
        for name in names:
            base = next((c for c in bases if name in vars(c)), None)
            assert base is not None, f"{ours.__name__}.{name} overrides nothing any more"
            assert _shape(getattr(ours, name)) == _shape(getattr(base, name)), (
                f"{ours.__name__}.{name} no longer matches {base.__qualname__}.{name}"
            )
        shadowing = {
            name
            for name, value in vars(ours).items()
            if inspect.isfunction(value)
            and name != "__init__"
            and any(name in vars(c) for c in bases)
        }
        assert shadowing <= set(names), f"{ours.__name__}: list {shadowing - set(names)}"
    from cidadao_gql.web.view import GraphQLView

    # The page GraphiQL is served from, a property the view reads.
    assert any(
        isinstance(vars(c).get("graphql_ide_html"), property) for c in GraphQLView.__mro__[1:]
    )


def test_the_signature_check_sees_a_changed_parameter() -> None:
    class Base:
        def send_json(self, message: object) -> None: ...

    class Ours(Base):
        def send_json(self, payload: object, *, binary: bool = False) -> None: ...

    assert _shape(Ours.send_json) != _shape(Base.send_json)


async def test_install_view_hooks_makes_the_view_use_our_classes() -> None:
    """The hooks set by install_view_hooks are the ones the ASGI view builds its request
    adapter from: a request through a hooked view goes through our adapter."""
    import httpx
    from cross_web import StarletteRequestAdapter
    from strawberry.asgi import ASGIWebSocketAdapter, GraphQL

    made: list[str] = []

    class Recording(StarletteRequestAdapter):
        def __init__(self, request: Any) -> None:
            super().__init__(request)
            made.append(request.method)

    class Frames(ASGIWebSocketAdapter):
        pass

    class Handler(internals.BaseGraphQLTransportWSHandler[Any, Any]):
        pass

    class View(GraphQL[Any, None]):
        async def get_context(self, request: Any, response: Any) -> Any:
            return {"who": "test"}

    internals.install_view_hooks(
        View, transport_ws=Handler, websocket_adapter=Frames, request_adapter=Recording
    )
    view = View(schema)
    assert view.graphql_transport_ws_handler_class is Handler
    assert view.websocket_adapter_class is Frames
    assert GraphQL.request_adapter_class is not Recording  # only the subclass is hooked
    transport = httpx.ASGITransport(app=view)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post("/", json={"query": "{ thing { greet } }"})
    assert answer.json() == {"data": {"thing": {"greet": "hi from test"}}}
    assert made == ["POST"]
