"""What a user would write first: Strawberry over an asyncpg pool, each relation resolved
with its own query per row (no DataLoader, no cache). The benchmark suite's row (b).

    DATABASE_URL=... uvicorn --app-dir benchmarks naive_app:app --workers 2

It answers the same nested page as cidadao-gql (`contracts(first: 100) { edges { node {
... supplier { ... } agency { ... } } } }`), with the same fields and global ids.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

POOL: dict[str, asyncpg.Pool] = {}


def global_id(kind: str, key: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{kind}:{key}".encode()).decode())


@strawberry.type
class Supplier:
    id: strawberry.ID
    name: str
    document: str


@strawberry.type
class Agency:
    id: strawberry.ID
    name: str
    cnpj: str
    uf: str | None


@strawberry.type
class Contract:
    id: strawberry.ID
    number: str
    object: str
    final_value: Decimal
    signed_on: date
    supplier_id: strawberry.Private[int]
    agency_id: strawberry.Private[int]

    @strawberry.field
    async def supplier(self, info: Info[Any, None]) -> Supplier:
        row = await POOL["db"].fetchrow(
            "SELECT id, name, document FROM suppliers WHERE id = $1", self.supplier_id
        )
        assert row is not None
        return Supplier(id=global_id("Supplier", row["id"]), name=row["name"],
                        document=row["document"])  # fmt: skip

    @strawberry.field
    async def agency(self, info: Info[Any, None]) -> Agency:
        row = await POOL["db"].fetchrow(
            "SELECT id, name, cnpj, uf FROM agencies WHERE id = $1", self.agency_id
        )
        assert row is not None
        return Agency(id=global_id("Agency", row["id"]), name=row["name"], cnpj=row["cnpj"],
                      uf=row["uf"])  # fmt: skip


@strawberry.type
class ContractEdge:
    node: Contract


@strawberry.type
class ContractConnection:
    edges: list[ContractEdge]


@strawberry.type
class Query:
    @strawberry.field
    async def contracts(self, first: int = 20) -> ContractConnection:
        rows = await POOL["db"].fetch(
            """SELECT id, number, object, final_value, signed_on, supplier_id, agency_id
                 FROM contracts ORDER BY id LIMIT $1""",
            first,
        )
        return ContractConnection(edges=[ContractEdge(node=Contract(
            id=global_id("Contract", r["id"]), number=r["number"], object=r["object"],
            final_value=r["final_value"], signed_on=r["signed_on"],
            supplier_id=r["supplier_id"], agency_id=r["agency_id"],
        )) for r in rows])  # fmt: skip


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    POOL["db"] = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    yield
    await POOL["db"].close()


graphql = GraphQL(strawberry.Schema(query=Query))
app = Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])], lifespan=lifespan)
