"""Every type, field, argument, enum value and directive argument of the schema has a
description (issue 19: the docs pane and the explorer are read by people who do not write
GraphQL), as introspection answers it and as `schema.graphql` holds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import build_schema as from_sdl
from graphql import get_introspection_query, graphql_sync

from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.schema.strawberry_internals import graphql_schema
from cidadao_gql.settings import Settings

SDL = Path(__file__).parents[2] / "schema.graphql"


def undescribed(introspected: dict[str, Any]) -> list[str]:
    missing = []
    for kind in introspected["types"]:
        name = kind["name"]
        if name.startswith("__"):
            continue
        missing += [name] if not kind["description"] else []
        for field in (kind["fields"] or []) + (kind["inputFields"] or []):
            missing += [f"{name}.{field['name']}"] if not field["description"] else []
            for argument in field.get("args", []):
                if not argument["description"]:
                    missing.append(f"{name}.{field['name']}({argument['name']})")
        for value in kind["enumValues"] or []:
            missing += [f"{name}.{value['name']}"] if not value["description"] else []
    for directive in introspected["directives"]:
        for argument in directive["args"]:
            if not argument["description"]:
                missing.append(f"@{directive['name']}({argument['name']})")
    return missing


def test_every_part_of_the_served_schema_is_described() -> None:
    schema = graphql_schema(build_schema(Settings()))
    result = graphql_sync(schema, get_introspection_query(descriptions=True))
    assert result.errors is None and result.data
    assert undescribed(result.data["__schema"]) == []


def test_every_part_of_schema_graphql_is_described() -> None:
    result = graphql_sync(from_sdl(SDL.read_text()), get_introspection_query(descriptions=True))
    assert result.errors is None and result.data
    assert undescribed(result.data["__schema"]) == []


def test_json_says_what_it_holds_in_plain_words() -> None:
    description = graphql_schema(build_schema(Settings())).type_map["JSON"].description
    assert description and "ECMA-404" not in description
