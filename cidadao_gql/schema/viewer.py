"""`viewer`: who the request is authenticated as."""

from __future__ import annotations

import strawberry

from cidadao_gql.schema.context import Info


@strawberry.type(description="The user behind the request's API key.")
class Viewer:
    id: str
    scopes: list[str]


@strawberry.type
class ViewerQueries:
    @strawberry.field(description="The authenticated user; null for anonymous requests.")
    def viewer(self, info: Info) -> Viewer | None:
        user = info.context.user
        return None if user is None else Viewer(id=user.id, scopes=sorted(user.scopes))
