"""Variables coerced with signatures read once per operation (execution/compiled/
variables.py): the same sources and values as graphql-core's `get_variable_values`, and
None wherever it reports an error."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import OperationDefinitionNode, get_operation_ast, parse
from graphql.execution.values import VariableValues, get_variable_values

from cidadao_gql.execution.compiled.variables import coerced, signatures_of
from cidadao_gql.schema.strawberry_internals import graphql_schema

OPERATION = """query V($id: ID!, $ids: [ID!], $n: Int = 10, $m: Int, $text: String = "x",
  $filter: ContractFilter, $order: ContractOrder = {field: SIGNED_ON, direction: DESC},
  $flag: Boolean! = true, $uf: UF) { __typename }"""


def _operation() -> OperationDefinitionNode:
    operation = get_operation_ast(parse(OPERATION))
    assert operation is not None
    return operation


@pytest.mark.parametrize(
    "given",
    [
        {"id": "QWdlbmN5OjE="},
        {"id": 7, "ids": ["a", 2], "n": 3, "m": None, "text": None, "uf": "SP"},
        {
            "id": "x",
            "filter": {"uf": "RJ", "valueMin": "10.5", "ufIn": "SP"},
            "order": None,
            "flag": False,
        },
        {"id": "x", "ids": "one", "extra": 1},  # a list of one, and a name no one declared
    ],
)
def test_the_same_values_and_sources_as_graphql_core(schema: Any, given: dict[str, Any]) -> None:
    operation = _operation()
    signatures = signatures_of(graphql_schema(schema), (operation.variable_definitions or ()))
    assert signatures is not None
    ours = coerced(signatures, given)
    theirs = get_variable_values(
        graphql_schema(schema), (operation.variable_definitions or ()), given
    )
    assert ours is not None and not isinstance(theirs, list)
    assert ours.coerced == theirs.coerced
    assert _sources(ours) == _sources(theirs)


def _sources(variables: VariableValues) -> dict[str, tuple[Any, ...]]:
    """Each variable's signature and given value (types as written: graphql-core makes the
    wrapping types, lists and non-nulls, anew for each signature)."""
    return {
        name: (
            source.signature.name,
            str(source.signature.type),
            None if source.signature.default is None else repr(source.signature.default.literal),
            source.value,
        )
        for name, source in variables.sources.items()
    }


@pytest.mark.parametrize(
    "given",
    [
        {},  # a non-null without a default, missing
        {"id": None},
        {"id": "x", "n": "ten"},
        {"id": "x", "uf": "XX"},
        {"id": "x", "flag": None},
        {"id": "x", "filter": {"nothing": 1}},
    ],
)
def test_none_wherever_graphql_core_reports_an_error(schema: Any, given: dict[str, Any]) -> None:
    operation = _operation()
    signatures = signatures_of(graphql_schema(schema), (operation.variable_definitions or ()))
    assert signatures is not None
    assert coerced(signatures, given) is None
    assert isinstance(
        get_variable_values(graphql_schema(schema), (operation.variable_definitions or ()), given),
        list,
    )
