"""`viewer`: who the request is authenticated as."""

from __future__ import annotations

from datetime import datetime

import strawberry

from cidadao_gql.schema.context import Info


@strawberry.type(description="One of the viewer's API keys (never the secret itself).")
class ApiKey:
    id: int
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@strawberry.type(description="The user behind the request's API key.")
class Viewer:
    id: str
    scopes: list[str]

    @strawberry.field(description="The viewer's API keys, revoked ones included.")
    async def keys(self, info: Info) -> list[ApiKey]:
        rows = await info.context.loaders.api_keys(self.id)
        return [
            ApiKey(
                id=r["id"],
                prefix=r["prefix"],
                scopes=list(r["scopes"]),
                created_at=r["created_at"],
                expires_at=r["expires_at"],
                revoked_at=r["revoked_at"],
            )
            for r in rows
        ]


@strawberry.type
class ViewerQueries:
    @strawberry.field(description="The authenticated user; null for anonymous requests.")
    def viewer(self, info: Info) -> Viewer | None:
        user = info.context.user
        return None if user is None else Viewer(id=user.id, scopes=sorted(user.scopes))
