"""Every part of Strawberry that is not its public API and that this package reads, in one
place: private attributes, the converter's type map, a resolver's wrapped function.

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
from graphql import GraphQLEnumType, GraphQLField, GraphQLObjectType, GraphQLSchema
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition
from strawberry.types.field import StrawberryField

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
