"""Per-request DataLoaders: every lookup by key made while resolving one operation is
collected and sent as one batched statement per kind of lookup.

A new set is made for each request (`make_loaders`), so a request never sees another
request's rows through the loader cache.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import partial

from aiodataloader import DataLoader

from cidadao_gql import queries
from cidadao_gql.db import Database, Record
from cidadao_gql.queries import Entity, Filters, PageRequest


class Loaders:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.agency = self._by_id(queries.AGENCIES)
        self.supplier = self._by_id(queries.SUPPLIERS)
        self.procurement = self._by_id(queries.PROCUREMENTS)
        self.item = self._by_id(queries.ITEMS)
        self.award = self._by_id(queries.AWARDS)
        self.contract = self._by_id(queries.CONTRACTS)
        self.sanction = self._by_id(queries.SANCTIONS)
        self.supplier_by_document: DataLoader[str, Record | None] = DataLoader(
            self._suppliers_by_document
        )
        self.sanctions_by_document: DataLoader[str, list[Record]] = DataLoader(
            partial(
                queries.fetch_by_column, db, queries.SANCTIONS, "supplier_document", kind="text"
            )
        )
        self._pages: dict[Hashable, DataLoader[int, list[Record]]] = {}
        self._counts: dict[Hashable, DataLoader[int, int]] = {}

    def _by_id(self, entity: Entity) -> DataLoader[int, Record | None]:
        return DataLoader(partial(queries.fetch_by_ids, self.db, entity))

    async def _suppliers_by_document(self, documents: Sequence[str]) -> list[Record | None]:
        groups = await queries.fetch_by_column(
            self.db, queries.SUPPLIERS, "document", documents, kind="text"
        )
        return [rows[0] if rows else None for rows in groups]

    def child_pages(
        self, entity: Entity, parent_column: str, filters: Filters, page: PageRequest
    ) -> DataLoader[int, list[Record]]:
        """A loader of pages keyed by parent id; one per distinct (relation, filter, page), so
        that sibling parents asking for the same page shape share one statement."""
        key = (entity.table, parent_column, filters, page)
        loader = self._pages.get(key)
        if loader is None:
            loader = DataLoader(
                partial(
                    queries.fetch_child_pages,
                    self.db,
                    entity,
                    parent_column,
                    filters=filters,
                    page=page,
                )
            )
            self._pages[key] = loader
        return loader

    def child_counts(
        self, entity: Entity, parent_column: str, filters: Filters
    ) -> DataLoader[int, int]:
        key = (entity.table, parent_column, filters)
        loader = self._counts.get(key)
        if loader is None:
            loader = DataLoader(
                partial(queries.count_children, self.db, entity, parent_column, filters=filters)
            )
            self._counts[key] = loader
        return loader

    async def page(self, entity: Entity, filters: Filters, page: PageRequest) -> list[Record]:
        return await queries.fetch_page(self.db, entity, filters, page)

    async def count(self, entity: Entity, filters: Filters) -> int:
        return await queries.count_rows(self.db, entity, filters)

    async def spending(self, group: str, filters: Filters, first: int) -> list[Record]:
        return await queries.fetch_spending(self.db, group, filters, first)


def make_loaders(db: Database) -> Loaders:
    return Loaders(db)
