"""The tiered cache: L1 memory, L2 Redis, L3 PostgreSQL, read in that order and filled back
on the way out, with stampede protection.

- XFetch: a value is recomputed early, before it expires, with a probability that grows
  as expiry nears: when `now - delta * beta * ln(rand) >= expires_at`, where delta is how
  long the last computation took (beta = 1). Hot keys are refreshed before they expire.
- Single flight: one computation per key per process; concurrent callers await it.
- Across processes, a Redis lock: the holder computes, the others wait for its value in
  L2 (or, refreshing early, keep serving the value they have).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from cidadao_gql import metrics
from cidadao_gql.data.cache.edge import EdgePurger
from cidadao_gql.data.cache.memory import Entry, MemoryTier
from cidadao_gql.data.cache.postgres_tier import PostgresTier
from cidadao_gql.data.cache.redis_tier import RedisTier
from cidadao_gql.data.cache.versions import Versions
from cidadao_gql.data.db import Database
from cidadao_gql.settings import Settings

L1, L2, L3 = "l1", "l2", "l3"
STRATEGY_TIERS = {
    "multi_tier": frozenset({L1, L2, L3}),
    "memory": frozenset({L1}),
    "redis": frozenset({L2}),
    "none": frozenset(),
}
LOCK_SECONDS = 10.0
POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Policy:
    """How one kind of value is cached; declared next to what it caches."""

    namespace: str
    ttl: float  # seconds in L2 (L1 keeps at most its own TTL; L3 until the version moves)
    tiers: frozenset[str] = frozenset({L1, L2})
    version: str = "data"  # the versioned namespace whose writes invalidate it
    private: bool = False  # keyed by user: never served to another user
    lock: bool = False  # take the cross-process lock to recompute (expensive values)


Compute = Callable[[], Awaitable[Any]]
ComputeMany = Callable[[list[Any]], Awaitable[Sequence[Any]]]


class TieredCache:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis: aioredis.Redis | None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        poll_seconds: float = 5.0,
    ) -> None:
        self.enabled = STRATEGY_TIERS[settings.cache_strategy]
        if redis is None:
            self.enabled -= {L2}
        self.l1 = MemoryTier(settings.cache_l1_entries)
        self.l1_ttl = settings.cache_l1_ttl
        self.l2 = RedisTier(redis, settings.cache_l2_entries) if redis is not None else None
        self.l3 = PostgresTier(db)
        self.versions = Versions(db, redis, self._dropped, poll_seconds)
        self.clock = clock
        self.rng = rng or random.Random()
        self.beta = 1.0
        self.inflight: dict[Hashable, asyncio.Future[Any]] = {}
        self.edge = EdgePurger(settings.edge_purge_urls, settings.edge_purge_token)
        self.purges: set[asyncio.Task[int]] = set()

    async def start(self) -> None:
        await self.versions.start()

    async def close(self) -> None:
        await self.versions.close()
        await asyncio.gather(*self.purges, return_exceptions=True)

    def _dropped(self, version_key: str) -> None:
        metrics.CACHE_INVALIDATIONS.labels(version_key).inc()
        if self.versions.started and self.edge.urls:
            # The writer purges the edge too, but an instance that has not heard of the
            # write yet may answer a request the edge sends it after that purge, from its
            # old L1; purging again once this instance has dropped its L1 closes that gap.
            task = asyncio.create_task(self.edge.purge(version_key))
            self.purges.add(task)
            task.add_done_callback(self.purges.discard)
        for key in [k for k in self.l1.entries if isinstance(k, tuple) and k[1] == version_key]:
            del self.l1.entries[key]

    def _tiers(self, policy: Policy) -> frozenset[str]:
        return self.enabled & policy.tiers

    def _keys(self, policy: Policy, key: str, user: str | None) -> tuple[tuple[Any, ...], str]:
        """The L1 key (a tuple: namespace, version key, version, user, key) and the text
        key of L2 and L3. Private values carry their user; public ones must not."""
        if policy.private and user is None:
            raise ValueError(f"{policy.namespace} is private: a user is needed")
        user = user if policy.private else None
        version = self.versions.get(policy.version)
        text = f"{policy.namespace}:{version}:{user or '-'}:{key}"
        return (policy.namespace, policy.version, version, user, key), text

    def _early(self, entry: Entry, now: float) -> bool:
        """XFetch: recompute now rather than at expiry, with rising probability."""
        if math.isinf(entry.expires_at):
            return False
        return now - entry.delta * self.beta * math.log(1.0 - self.rng.random()) >= entry.expires_at

    # -- single values ------------------------------------------------------------------

    async def get(self, policy: Policy, key: str, compute: Compute, user: str | None = None) -> Any:
        tiers = self._tiers(policy)
        if not tiers:
            return await compute()
        l1_key, text = self._keys(policy, key, user)
        now = self.clock()
        if L1 in tiers:
            entry = self.l1.get(l1_key, now)
            metrics.cache_lookup(L1, policy.namespace, entry is not None)
            if entry is not None and not self._early(entry, now):
                return entry.value
        flight = self.inflight.get(l1_key)
        if flight is not None:  # someone here is already reading the lower tiers or computing
            metrics.CACHE_LOCK_WAITS.labels("process").inc()
            return await asyncio.shield(flight)
        return await self._single_flight(l1_key, self._fetch(policy, tiers, l1_key, text, compute))

    async def _fetch(
        self,
        policy: Policy,
        tiers: frozenset[str],
        l1_key: tuple[Any, ...],
        text: str,
        compute: Compute,
    ) -> Any:
        now = self.clock()
        entry = await self._read(policy, tiers - {L1}, l1_key, text, now)
        if entry is not None and not self._early(entry, now):
            self._promote(tiers, l1_key, entry, now)
            return entry.value
        stale = entry or (self.l1.get(l1_key, now) if L1 in tiers else None)
        return await self._compute(policy, tiers, l1_key, text, compute, stale)

    async def peek(self, policy: Policy, key: str, user: str | None = None) -> Any:
        """The cached value, or None; never computes (the response cache's read)."""
        tiers = self._tiers(policy)
        if not tiers:
            return None
        l1_key, text = self._keys(policy, key, user)
        entry = await self._read(policy, tiers, l1_key, text, self.clock())
        return None if entry is None else entry.value

    def in_memory(self, policy: Policy, key: str) -> Any:
        """The value in L1, or None; never waits on another tier."""
        if L1 not in self._tiers(policy):
            return None
        l1_key, _ = self._keys(policy, key, None)
        entry = self.l1.get(l1_key, self.clock())
        metrics.cache_lookup(L1, policy.namespace, entry is not None)
        return None if entry is None else entry.value

    async def put(self, policy: Policy, key: str, value: Any, user: str | None = None) -> None:
        tiers = self._tiers(policy)
        if tiers:
            l1_key, text = self._keys(policy, key, user)
            await self._write(policy, tiers, [(l1_key, text, value)], 0.0, self.clock())

    async def _read(
        self, policy: Policy, tiers: frozenset[str], l1_key: tuple[Any, ...], text: str, now: float
    ) -> Entry | None:
        if L1 in tiers:
            entry = self.l1.get(l1_key, now)
            metrics.cache_lookup(L1, policy.namespace, entry is not None)
            if entry is not None:
                return entry
        if L2 in tiers and self.l2 is not None:
            (entry,) = await self.l2.get_many([text])
            entry = entry if entry is not None and entry.expires_at > now else None
            metrics.cache_lookup(L2, policy.namespace, entry is not None)
            if entry is not None:
                self._promote(tiers, l1_key, entry, now)
                return entry
        if L3 in tiers:
            (entry,) = await self.l3.get_many(policy.namespace, l1_key[2], [text])
            metrics.cache_lookup(L3, policy.namespace, entry is not None)
            if entry is not None:
                fresh = Entry(entry.value, now + policy.ttl, entry.delta)
                self._promote(tiers, l1_key, fresh, now)
                if L2 in tiers and self.l2 is not None:
                    await self.l2.set_many([(text, fresh)], policy.ttl, now)
                return fresh
        return None

    def _promote(
        self, tiers: frozenset[str], l1_key: tuple[Any, ...], entry: Entry, now: float
    ) -> None:
        if L1 in tiers:
            self.l1.set(
                l1_key, Entry(entry.value, min(entry.expires_at, now + self.l1_ttl), entry.delta)
            )

    async def _single_flight(self, l1_key: tuple[Any, ...], work: Awaitable[Any]) -> Any:
        """Run `work` as the one flight for `l1_key`; later callers await its result."""
        flight = asyncio.get_running_loop().create_future()
        self.inflight[l1_key] = flight
        try:
            value = await work
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self.inflight[l1_key]
        flight.set_result(value)
        return value

    async def _compute(
        self, policy: Policy, tiers: frozenset[str], l1_key: tuple[Any, ...], text: str,
        compute: Compute, stale: Entry | None,
    ) -> Any:  # fmt: skip
        token = None
        if policy.lock and L2 in tiers and self.l2 is not None:
            token = await self.l2.lock(text, LOCK_SECONDS)
            if token is None and await self.l2.locked(text):
                if stale is not None:
                    return stale.value  # another process is refreshing; ours will do meanwhile
                waited = await self._wait_for_holder(policy, text)
                if waited is not None:
                    self._promote(tiers, l1_key, waited, self.clock())
                    return waited.value
        try:
            started = time.perf_counter()
            value = await compute()
            delta = time.perf_counter() - started
            metrics.CACHE_RECOMPUTES.labels(policy.namespace).inc()
            await self._write(policy, tiers, [(l1_key, text, value)], delta, self.clock())
            return value
        finally:
            if token is not None and self.l2 is not None:
                await self.l2.unlock(text, token)

    async def _wait_for_holder(self, policy: Policy, text: str) -> Entry | None:
        assert self.l2 is not None
        metrics.CACHE_LOCK_WAITS.labels("cluster").inc()
        deadline = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            (entry,) = await self.l2.get_many([text])
            if entry is not None:
                return entry
            if not await self.l2.locked(text):
                return None  # the holder gave up or failed: compute ourselves
        return None

    async def _write(
        self, policy: Policy, tiers: frozenset[str], items: list[tuple[tuple[Any, ...], str, Any]],
        delta: float, now: float,
    ) -> None:  # fmt: skip
        entry_for = {text: Entry(value, now + policy.ttl, delta) for _, text, value in items}
        for l1_key, text, _ in items:
            self._promote(tiers, l1_key, entry_for[text], now)
        if L2 in tiers and self.l2 is not None:
            await self.l2.set_many(list(entry_for.items()), policy.ttl, now)
        if L3 in tiers:
            await self.l3.set_many(policy.namespace, items[0][0][2], list(entry_for.items()))

    # -- many values (behind DataLoaders) -----------------------------------------------

    async def get_many(
        self, policy: Policy, keys: Sequence[Any], compute_many: ComputeMany
    ) -> list[Any]:
        """Values for `keys`, computing the missing ones in one batch. None is not cached."""
        tiers = self._tiers(policy)
        if not tiers:
            return list(await compute_many(list(keys)))
        now = self.clock()
        named = [self._keys(policy, str(k), None) for k in keys]
        found: dict[int, Any] = {}
        if L1 in tiers:
            for i, (l1_key, _) in enumerate(named):
                entry = self.l1.get(l1_key, now)
                metrics.cache_lookup(L1, policy.namespace, entry is not None)
                if entry is not None:
                    found[i] = entry.value
        await self._read_many(policy, tiers, named, found, now)
        missing = [i for i in range(len(keys)) if i not in found]
        if missing:
            await self._compute_many(policy, tiers, keys, named, missing, found, compute_many)
        return [found.get(i) for i in range(len(keys))]

    async def _read_many(
        self, policy: Policy, tiers: frozenset[str], named: list[tuple[tuple[Any, ...], str]],
        found: dict[int, Any], now: float,
    ) -> None:  # fmt: skip
        for tier in (L2, L3):
            wanted = [i for i in range(len(named)) if i not in found]
            if tier not in tiers or not wanted or (tier == L2 and self.l2 is None):
                continue
            texts = [named[i][1] for i in wanted]
            if tier == L2:
                assert self.l2 is not None
                entries = await self.l2.get_many(texts)
            else:
                entries = await self.l3.get_many(policy.namespace, named[0][0][2], texts)
            for i, entry in zip(wanted, entries, strict=True):
                hit = entry is not None and entry.expires_at > now
                metrics.cache_lookup(tier, policy.namespace, hit)
                if hit and entry is not None:
                    found[i] = entry.value
                    self._promote(tiers, named[i][0], entry, now)

    async def _compute_many(
        self, policy: Policy, tiers: frozenset[str], keys: Sequence[Any],
        named: list[tuple[tuple[Any, ...], str]], missing: list[int], found: dict[int, Any],
        compute_many: ComputeMany,
    ) -> None:  # fmt: skip
        waiting = {i: self.inflight[named[i][0]] for i in missing if named[i][0] in self.inflight}
        mine = [i for i in missing if i not in waiting]
        if mine:
            loop = asyncio.get_running_loop()
            flights = {i: loop.create_future() for i in mine}
            for i, flight in flights.items():
                self.inflight[named[i][0]] = flight
            try:
                started = time.perf_counter()
                values = await compute_many([keys[i] for i in mine])
                delta = time.perf_counter() - started
                metrics.CACHE_RECOMPUTES.labels(policy.namespace).inc()
                for i, value in zip(mine, values, strict=True):
                    found[i] = value
                    flights[i].set_result(value)
                items = [(named[i][0], named[i][1], found[i]) for i in mine if found[i] is not None]
                if items:
                    await self._write(policy, tiers, items, delta, self.clock())
            except BaseException as exc:
                for flight in flights.values():
                    if not flight.done():
                        flight.set_exception(exc)
                        flight.exception()
                raise
            finally:
                for i in mine:
                    self.inflight.pop(named[i][0], None)
        for i, flight in waiting.items():
            metrics.CACHE_LOCK_WAITS.labels("process").inc()
            found[i] = await asyncio.shield(flight)
