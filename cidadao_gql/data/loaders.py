"""Per-request DataLoaders: every lookup by key made while resolving one operation is
collected and sent as one batched statement per kind of lookup.

A new set is made for each request (`Loaders(db, cache)`), so a request never sees another
request's rows through the loader cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Hashable, Sequence
from dataclasses import replace
from functools import cached_property, partial
from typing import Any

from aiodataloader import DataLoader

from cidadao_gql.data import aggregates, apikeys, child_pages, sql
from cidadao_gql.data.aggregates import GroupPage
from cidadao_gql.data.cache import L1, L2, L3, Policy, TieredCache
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.sql import Entity, PageRequest
from cidadao_gql.data.statement import Filters

ROW_TTL = 3600.0
ROW_TIERS = frozenset({L1, L2})
# An aggregate over every matching contract: kept in all three tiers (L3 survives restarts)
# for an hour or until the data changes, and recomputed by one process at a time.
SPENDING_CACHE = Policy("spending", ttl=3600, tiers=frozenset({L1, L2, L3}), lock=True)
# Every page size up to this shares one computation: the groups are all aggregated whatever
# the page (spending by supplier in SP, 257,646 contracts on 1,000,000, some 200 ms loaded),
# and the largest page's first rows are the smaller page's. The mixed workload of issue 23
# drew `first` between 5 and 50: 46 cold computations of one aggregate, now one. Reading
# 101 groups' labels rather than 21 is a few dozen index probes more.
SHARED_PAGE = 100
# A supplier's totals: cached in every tier, per supplier (read from kept values since
# issue 16, no longer a scan of its contracts, but a hit saves the round trip all the same).
SUPPLIER_TOTALS_CACHE = Policy("supplier_totals", ttl=3600, tiers=frozenset({L1, L2, L3}))
# Private: cached under the user, never served to anyone else; key changes invalidate it.
API_KEYS_CACHE = Policy("viewer_keys", ttl=300, version="apikeys", private=True)
BatchFunction = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]
_BY_ID = {"agency": sql.AGENCIES, "supplier": sql.SUPPLIERS,
          "procurement": sql.PROCUREMENTS, "item": sql.ITEMS, "award": sql.AWARDS,
          "contract": sql.CONTRACTS, "sanction": sql.SANCTIONS}  # fmt: skip


# Loaders of one row by a column other than id that is unique in its table (a supplier's
# document: suppliers_document_key), which a statement may join on as it joins by id.
_BY_UNIQUE = {"supplier_by_document": (sql.SUPPLIERS, "document")}
# Loaders of the rows whose column is a key (ordered by id): a supplier's sanctions.
_LISTS = {"sanctions_by_document": (sql.SANCTIONS, "supplier_document")}


def entity_of(loader: str) -> Entity | None:
    """The table a loader reads rows of by id; None for any other loader."""
    return _BY_ID.get(loader)


def listed_by(loader: str) -> tuple[Entity, str] | None:
    """The table a loader reads lists of rows of and the column it reads them by; None for
    a loader of anything else."""
    return _LISTS.get(loader)


def joined_by(loader: str) -> tuple[Entity, str] | None:
    """The table a loader reads one row of and the unique column it reads it by (`id` for
    rows by id); None for a loader of anything else (lists, pages, aggregates)."""
    entity = _BY_ID.get(loader)
    return (entity, "id") if entity is not None else _BY_UNIQUE.get(loader)


def _digest(*parts: object) -> str:
    """A cache key for arguments: filters are frozen dataclasses with a stable repr."""
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()


class Loaders:
    """Each loader is made the first time the request asks for it: most requests use a few."""

    def __init__(
        self, db: Database, cache: TieredCache | None = None, cache_rows: bool = True
    ) -> None:
        self.db = db
        self.cache = cache
        self.cache_rows = cache_rows  # rows by id through the tiers (aggregates always are)
        self._pages: dict[Hashable, DataLoader[int, list[Record]]] = {}
        self._counts: dict[Hashable, DataLoader[int, int]] = {}

    @cached_property
    def agency(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("agency"))

    @cached_property
    def supplier(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("supplier"))

    @cached_property
    def procurement(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("procurement"))

    @cached_property
    def item(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("item"))

    @cached_property
    def award(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("award"))

    @cached_property
    def contract(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("contract"))

    @cached_property
    def sanction(self) -> DataLoader[int, Record | None]:
        return DataLoader(self.batch("sanction"))

    @cached_property
    def supplier_by_document(self) -> DataLoader[str, Record | None]:
        return DataLoader(self.batch("supplier_by_document"))

    @cached_property
    def sanctions_by_document(self) -> DataLoader[str, list[Record]]:
        return DataLoader(self.batch("sanctions_by_document"))

    def batch(self, name: str) -> BatchFunction:
        """The batch function of loader `name`: what its DataLoader calls with the keys it
        collected, and what the compiled executor calls without one."""
        entity = _BY_ID.get(name)
        if entity is not None:
            return self._by_id(entity)
        if name == "supplier_by_document":
            return self._suppliers_by_document
        if name == "sanctions_by_document":
            return partial(
                sql.fetch_by_column, self.db, sql.SANCTIONS, "supplier_document",
                kind="text",
            )  # fmt: skip
        raise KeyError(name)

    @property
    def caches_rows(self) -> bool:
        """Whether rows by id are read through a cache tier (CACHE_STRATEGY other than none)."""
        return self.cache is not None and bool(self.cache.enabled & ROW_TIERS)

    def _by_id(self, entity: Entity) -> BatchFunction:
        """Rows by id, read through the cache tiers when there is a cache."""
        fetch = partial(sql.fetch_by_ids, self.db, entity)
        cache = self.cache
        if cache is None or not self.cache_rows:
            return fetch
        policy = Policy(f"row:{entity.table}", ROW_TTL, ROW_TIERS)

        async def load(ids: list[int]) -> list[Record | None]:
            return await cache.get_many(policy, ids, fetch)

        return load

    async def _suppliers_by_document(self, documents: Sequence[str]) -> list[Record | None]:
        groups = await sql.fetch_by_column(
            self.db, sql.SUPPLIERS, "document", documents, kind="text"
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
                    sql.fetch_child_pages,
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
                partial(child_pages.count_children, self.db, entity, parent_column, filters=filters)
            )
            self._counts[key] = loader
        return loader

    async def pages_of(
        self,
        entity: Entity,
        parent_column: str,
        parent_ids: Sequence[int],
        filters: Filters,
        page: PageRequest,
    ) -> list[list[Record]]:
        """Every parent's page at once, in one statement, for a caller that collected the
        parents itself (the compiled executor, a level at a time)."""
        return await sql.fetch_child_pages(
            self.db, entity, parent_column, parent_ids, filters=filters, page=page
        )

    async def counts_of(
        self, entity: Entity, parent_column: str, parent_ids: Sequence[int], filters: Filters
    ) -> list[int]:
        return await child_pages.count_children(
            self.db, entity, parent_column, parent_ids, filters=filters
        )

    async def page(self, entity: Entity, filters: Filters, page: PageRequest) -> list[Record]:
        return await sql.fetch_page(self.db, entity, filters, page)

    async def count(self, entity: Entity, filters: Filters) -> int:
        return await sql.count_rows(self.db, entity, filters)

    async def spending(self, group: str, filters: Filters, page: GroupPage) -> list[Record]:
        """A page of groups; cached as the page of SHARED_PAGE groups it begins, when it is
        no longer: the same groups in the same order, cut (`first` + 1 rows)."""
        if self.cache is None:
            return await aggregates.fetch_spending(self.db, group, filters, page)
        shared = replace(page, first=max(page.first, SHARED_PAGE))

        async def compute() -> list[Record]:
            return await aggregates.fetch_spending(self.db, group, filters, shared)

        key = _digest(group, filters, shared)
        rows: list[Record] = await self.cache.get(SPENDING_CACHE, key, compute)
        return rows[: page.first + 1]

    async def spending_groups(self, group: str, filters: Filters) -> int:
        """How many groups (a page's totalCount), cached as the pages are."""

        async def compute() -> int:
            return await aggregates.count_spending_groups(self.db, group, filters)

        if self.cache is None:
            return await compute()
        count: int = await self.cache.get(SPENDING_CACHE, _digest(group, filters), compute)
        return count

    @cached_property
    def supplier_totals(self) -> DataLoader[int, Record | None]:
        fetch = partial(sql.fetch_supplier_totals, self.db)
        cache = self.cache
        if cache is None:
            return DataLoader(fetch)

        async def load(ids: list[int]) -> list[Record | None]:
            return await cache.get_many(SUPPLIER_TOTALS_CACHE, ids, fetch)

        return DataLoader(load)

    async def api_keys(self, user_id: str) -> list[Record]:
        """A user's own keys: private, so cached under the user and never shared."""

        async def compute() -> list[Record]:
            return await apikeys.fetch_api_keys(self.db, user_id)

        if self.cache is None:
            return await compute()
        rows: list[Record] = await self.cache.get(API_KEYS_CACHE, "keys", compute, user=user_id)
        return rows
