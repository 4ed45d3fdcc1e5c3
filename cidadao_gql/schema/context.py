"""What every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo

from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.data.persisted import PersistedDocuments
from cidadao_gql.data.ratelimit import Limiter
from cidadao_gql.investigations.access import Investigations
from cidadao_gql.investigations.queue import Jobs
from cidadao_gql.settings import Settings


@dataclass(slots=True)
class Context:
    db: Database
    settings: Settings
    loaders: Loaders
    user: User | None
    request_id: str
    limiter: Limiter | None = None
    jobs: Jobs | None = None  # where new investigations are queued
    persisted: PersistedDocuments | None = None  # APQ and trusted documents
    client: str = "anonymous"
    response: Response | None = None  # status and headers of the HTTP answer, when there is one
    cost: dict[str, Any] = field(default_factory=dict)  # extensions.cost, as far as it got
    connection_params: dict[str, Any] | None = None  # a WebSocket's connection_init payload
    # The investigations the resolvers reach, bound to `db`: they never hold the pool.
    investigations: Investigations = field(init=False)

    def __post_init__(self) -> None:
        self.investigations = Investigations(self.db)


Info: TypeAlias = StrawberryInfo[Context, None]
