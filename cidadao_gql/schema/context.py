"""What every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from strawberry.types import Info as StrawberryInfo

from cidadao_gql.apikeys import User
from cidadao_gql.db import Database
from cidadao_gql.loaders import Loaders
from cidadao_gql.settings import Settings


@dataclass(slots=True)
class Context:
    db: Database
    settings: Settings
    loaders: Loaders
    user: User | None
    request_id: str


Info: TypeAlias = StrawberryInfo[Context, None]
