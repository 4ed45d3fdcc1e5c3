"""Investigations as a request reaches them: the store and the event feed bound to the
pool, so that resolvers call `info.context.investigations.create(...)` and never hold the
pool or write SQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cidadao_gql.agents import Target
from cidadao_gql.data.db import Database, Record
from cidadao_gql.investigations import store
from cidadao_gql.investigations.events import batches
from cidadao_gql.investigations.queue import Event, Jobs


@dataclass(frozen=True, slots=True)
class Investigations:
    db: Database

    async def validate(self, target: Target) -> int:
        return await store.validate(self.db, target)

    async def create(self, user_id: str, target: Target, agents: list[str]) -> Record:
        return await store.create(self.db, user_id, target, agents)

    async def get(self, investigation: uuid.UUID, user_id: str) -> Record:
        return await store.get(self.db, investigation, user_id)

    async def list_for(self, user_id: str, first: int) -> list[Record]:
        return await store.list_for(self.db, user_id, first)

    async def cancel(self, investigation: uuid.UUID, user_id: str) -> Record:
        return await store.cancel(self.db, investigation, user_id)

    async def fail(self, investigation: uuid.UUID, reason: str) -> None:
        await store.fail(self.db, investigation, reason)

    async def findings_page(
        self, investigation: uuid.UUID, first: int, after: tuple[float, int] | None,
        backward: bool = False,
    ) -> list[Record]:  # fmt: skip
        return await store.findings_page(self.db, investigation, first, after, backward)

    async def findings_count(self, investigation: uuid.UUID) -> int:
        return await store.findings_count(self.db, investigation)

    def events(
        self, jobs: Jobs, investigation: uuid.UUID, after: str
    ) -> AsyncIterator[list[Event]]:
        """Batches of an investigation's events after `after`, until it finishes."""
        return batches(self.db, jobs, investigation, after)
