"""An operation's variables coerced as graphql-core coerces them, with the signatures of its
variable definitions (name, input type, default) read once per operation rather than on
every request: `get_variable_values` looks each type up again from the AST each time
(`type_from_ast`), some 11 µs of the 2 IDs of a pair of `node(id:)` roots, about a tenth of
the compiled path's CPU in process for such a small operation. Anything but a value that
coerces or a default that does (a missing non-null value, a value that does not coerce,
input nested too deeply, a default that does not coerce) is None: `get_variable_values`
then runs as before and says why."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from graphql import GraphQLError, GraphQLSchema, Undefined, coerce_input_value, is_non_null_type
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    input_is_nested_too_deeply,
    maybe_use_default_value,
)
from graphql.language import VariableDefinitionNode

Signatures = tuple[GraphQLVariableSignature, ...]


def signatures_of(
    schema: GraphQLSchema, definitions: Collection[VariableDefinitionNode]
) -> Signatures | None:
    """The signatures of an operation's variable definitions; None when one is not an input
    type (validation refuses it first)."""
    found = [get_variable_signature(schema, node) for node in definitions]
    if any(isinstance(s, GraphQLError) for s in found):
        return None
    return tuple(s for s in found if isinstance(s, GraphQLVariableSignature))


def coerced(signatures: Signatures, inputs: dict[str, Any]) -> VariableValues | None:
    """The variables coerced as `coerce_variable_values` coerces them (the same sources and
    values), or None where it would report an error."""
    sources: dict[str, VariableValueSource] = {}
    values: dict[str, Any] = {}
    failed: list[GraphQLError] = []  # a default that does not coerce: reported there

    def unusable(error: GraphQLError, _: list[str | int]) -> None:
        failed.append(error)

    for signature in signatures:
        name, type_ = signature.name, signature.type
        value = inputs.get(name, Undefined)
        if value is Undefined:
            sources[name] = VariableValueSource(signature)
            if signature.default is not None:
                maybe_use_default_value(values, name, signature, unusable)
                if failed:
                    return None
                continue
            if is_non_null_type(type_):
                return None
            continue
        sources[name] = VariableValueSource(signature, value)
        # only a list or an object nests (a scalar is never too deep: the walk stops at once)
        if isinstance(value, list | tuple | dict) and input_is_nested_too_deeply(value, type_):
            return None
        found = coerce_input_value(value, type_)
        if found is Undefined:
            return None
        values[name] = found
    return VariableValues(sources, values)
