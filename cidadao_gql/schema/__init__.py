"""The GraphQL schema, composed from one module per domain area."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ValidationCache
from strawberry.schema.config import StrawberryConfig

from cidadao_gql.schema.agencies import Agency, AgencyQueries
from cidadao_gql.schema.contracts import Contract, ContractQueries
from cidadao_gql.schema.extensions import CachedParser, ErrorCodes
from cidadao_gql.schema.node import NodeQueries
from cidadao_gql.schema.procurements import Award, Item, Procurement, ProcurementQueries
from cidadao_gql.schema.sanctions import Sanction, SanctionQueries
from cidadao_gql.schema.spending import SpendingQueries
from cidadao_gql.schema.suppliers import Supplier, SupplierQueries
from cidadao_gql.schema.viewer import ViewerQueries
from cidadao_gql.settings import Settings


@strawberry.type(description="Public procurement data: who sold what to whom, for how much.")
class Query(
    NodeQueries,
    AgencyQueries,
    SupplierQueries,
    ProcurementQueries,
    ContractQueries,
    SanctionQueries,
    SpendingQueries,
    ViewerQueries,
):
    pass


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Strawberry logs every error, a client's bad cursor included; ErrorCodes logs the
        internal ones, with the request id, and that is all the log needs."""


def build_schema(settings: Settings) -> Schema:
    del settings  # the limits of later issues read it; the shape does not depend on it
    return Schema(
        query=Query,
        types=[Agency, Supplier, Procurement, Item, Award, Contract, Sanction],
        extensions=[
            ErrorCodes,
            partial(CachedParser, maxsize=1024),
            partial(ValidationCache, maxsize=1024),
        ],
        config=StrawberryConfig(auto_camel_case=True),
    )


def sdl(schema: strawberry.Schema) -> str:
    """The schema as SDL, as committed in schema.graphql."""
    return schema.as_str() + "\n"
