"""Every nested page the schema offers with a filter and an ordering, generated from the
schema: each connection of a type (not the query's) that takes `filter` and `orderBy`,
under every field of its filter, every ordering and direction, forwards and backwards, its
parents the largest (by total value, where the parents' list orders so) and the filter's
value drawn from the data. For the differential tests of the compiled executor
(tests/test_compiled_nested.py, and on a larger set tests/test_filter_plans.py): the pages
the planner now writes per parent (execution/compiled/sources.per_parent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
)

from cidadao_gql.data.db import Database
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.schema.strawberry_internals import graphql_schema
from tests.conftest import Run, answer_bytes, compiled_fields

PARENTS = 4
PAGE = 3
# A few enum values the data holds (the first of an enum's values may match no row).
ENUMS = {"UF": ["SP", "RJ"], "Modality": ["DISPENSA", "PREGAO_ELETRONICO"],
         "Sphere": ["MUNICIPAL", "FEDERAL"], "ProcurementStatus": ["PUBLISHED", "REVOKED"]}  # fmt: skip
SCALARS = {"Date": '"2024-06-30"', "Decimal": '"20000"', "Int": "2024"}
SEARCH = '"material"'


@dataclass(frozen=True, slots=True)
class NestedPage:
    parent: str  # the parents' root list: agencies, suppliers, procurements
    field: str  # the connection on each parent: contracts, procurements
    filter: str  # the filter's field
    ordering: str  # the ordering's field and direction: VALUE DESC
    backward: bool

    @property
    def name(self) -> str:
        way = "last" if self.backward else "first"
        return f"{self.parent}.{self.field} {self.filter} {self.ordering} {way}"


async def strings(db: Database) -> dict[str, str]:
    """Values of the String and ID fields of the filters, from the data, as GraphQL literals:
    rows with many children (the largest agency and supplier, a procurement's contracts)."""
    agency = await db.fetchrow("SELECT id, cnpj, ibge_code FROM agencies ORDER BY"
                               " contract_count DESC, id LIMIT 1")  # fmt: skip
    supplier = await db.fetchrow("SELECT id, document FROM suppliers ORDER BY"
                                 " contract_count DESC, id LIMIT 1")  # fmt: skip
    procurement = await db.fetchval("SELECT procurement_id FROM contracts WHERE procurement_id"
                                    " IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")  # fmt: skip
    town = await db.fetchval("SELECT ibge_code FROM agencies WHERE ibge_code IS NOT NULL"
                             " ORDER BY contract_count DESC, id LIMIT 1")  # fmt: skip
    assert agency is not None and supplier is not None
    values = {
        "agency": encode_id("Agency", agency["id"]),
        "supplier": encode_id("Supplier", supplier["id"]),
        "procurement": encode_id("Procurement", procurement or 0),
        "agencyCnpj": agency["cnpj"],
        "supplierDocument": supplier["document"],
        "ibgeCode": town or "",
    }
    return {name: orjson.dumps(value).decode() for name, value in values.items()} | {
        "search": SEARCH
    }


def literal(name: str, kind: Any, found: dict[str, str]) -> str:
    """A GraphQL literal for filter field `name` of type `kind`; unknown: KeyError (a new
    filter field needs a value here)."""
    kind = get_nullable_type(kind)
    if isinstance(kind, GraphQLList):
        named = get_named_type(kind)
        return f"[{', '.join(ENUMS[named.name])}]"
    if isinstance(kind, GraphQLEnumType):
        return ENUMS[kind.name][0]
    if kind.name in ("String", "ID"):
        return found[name]
    return SCALARS[kind.name]


def pages(schema: GraphQLSchema) -> Iterator[tuple[NestedPage, GraphQLInputObjectType]]:
    """Every nested connection with a filter and an ordering, each filter field × ordering
    field × direction × way, and the filter's input type."""
    query = schema.query_type
    assert query is not None
    roots = {get_named_type(f.type).name: name for name, f in query.fields.items()}
    for type_name, kind in sorted(schema.type_map.items()):
        if not isinstance(kind, GraphQLObjectType) or kind is query:
            continue
        root = roots.get(f"{type_name}Connection")
        for name, field in kind.fields.items():
            if root is None or not {"filter", "orderBy"} <= set(field.args):
                continue
            where = get_named_type(field.args["filter"].type)
            order = get_named_type(field.args["orderBy"].type)
            assert isinstance(where, GraphQLInputObjectType)
            assert isinstance(order, GraphQLInputObjectType)
            by = get_named_type(order.fields["field"].type)
            direction = get_named_type(order.fields["direction"].type)
            assert isinstance(by, GraphQLEnumType) and isinstance(direction, GraphQLEnumType)
            for filtered in where.fields:
                for value in by.values:
                    for way in direction.values:
                        for backward in (False, True):
                            page = NestedPage(root, name, filtered, f"{value} {way}", backward)
                            yield page, where


def query(
    schema: GraphQLSchema, page: NestedPage, where: GraphQLInputObjectType, found: dict[str, str]
) -> str:
    value = literal(page.filter, where.fields[page.filter].type, found)
    field, direction = page.ordering.split()
    size = f"last: {PAGE}" if page.backward else f"first: {PAGE}"
    return (
        f"{{ {page.parent}(first: {PARENTS}{_largest(schema, page.parent)}) {{ nodes {{ id"
        f" {page.field}({size}, filter: {{{page.filter}: {value}}}, orderBy: {{field: {field},"
        f" direction: {direction}}}) {{ totalCount pageInfo {{ hasNextPage hasPreviousPage"
        f" startCursor endCursor }} edges {{ cursor node {{ id }} }} }} }} }} }}"
    )


def _largest(schema: GraphQLSchema, root: str) -> str:
    """The ordering of a root list that puts its largest rows first, as an argument."""
    assert schema.query_type is not None
    order = schema.query_type.fields[root].args.get("orderBy")
    if order is None:
        return ""
    kind = get_named_type(order.type)
    assert isinstance(kind, GraphQLInputObjectType)
    values = get_named_type(kind.fields["field"].type)
    assert isinstance(values, GraphQLEnumType)
    found = next((v for v in ("TOTAL_VALUE", "VALUE") if v in values.values), None)
    return "" if found is None else f", orderBy: {{field: {found}, direction: DESC}}"


# Filter fields naming other rows by a key of theirs (Clause.among, Clause.key) or
# searching words (Clause.alone): their pages stay on the levels, which look those rows up
# first and count a search's matches (sources.per_parent).
ON_THE_LEVELS = {"sphere", "ibgeCode", "agencyCnpj", "supplierDocument", "search"}


async def differences(run: Run) -> tuple[list[str], list[str]]:
    """The pages whose answers differ between the paths, and those the compiled path did
    not write in one statement (run level by level) though their filter is not one of
    ON_THE_LEVELS (those: one statement where the ordering's index serves the filter, else
    the levels), by name."""
    schema = graphql_schema(run.schema)
    values = await strings(run.db)
    different, levels = [], []
    for page, where in pages(schema):
        text = query(schema, page, where, values)
        before = compiled_fields("statement"), compiled_fields("levels")
        compiled = await run.execute(text, {})
        assert compiled.errors is None, (page.name, compiled.errors)
        one = (compiled_fields("statement") - before[0], compiled_fields("levels")) == (
            1,
            before[1],
        )
        if not one and page.filter not in ON_THE_LEVELS:
            levels.append(page.name)
        if answer_bytes(compiled) != answer_bytes(await run.execute(text, {}, compiled=False)):
            different.append(page.name)
    return different, levels
