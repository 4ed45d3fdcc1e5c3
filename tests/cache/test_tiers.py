"""The tiered cache on real Redis and PostgreSQL: order, promotion, expiry, XFetch,
stampedes, bounds and strategies."""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis

from cidadao_gql.data.cache import L1, L2, L3, Policy, TieredCache, bump_version
from cidadao_gql.data.cache.memory import Entry
from cidadao_gql.data.cache.redis_tier import INDEX, PREFIX
from cidadao_gql.data.cache.versions import Versions
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.settings import Settings
from tests.conftest import FakeClock


@pytest.fixture
async def cache(
    settings: Settings, db: Database, redis: aioredis.Redis
) -> AsyncIterator[TieredCache]:
    made = TieredCache(settings, db, redis, clock=FakeClock(1_800_000_000.0), rng=random.Random(1))
    await made.start()
    yield made
    await made.close()


def policy(**overrides: Any) -> Policy:
    """A namespace of its own per test, so tests never see each other's entries."""
    return replace(
        Policy(f"test:{uuid.uuid4().hex[:8]}", ttl=60, tiers=frozenset({L1, L2, L3})), **overrides
    )


class Counter:
    def __init__(self, value: Any = "v") -> None:
        self.calls = 0
        self.value = value

    async def __call__(self) -> Any:
        self.calls += 1
        return self.value


async def test_tiers_are_read_in_order_and_promote(
    cache: TieredCache, redis: aioredis.Redis
) -> None:
    p, compute = policy(), Counter({"n": 1})
    assert await cache.get(p, "k", compute) == {"n": 1}
    l1_key, text = cache._keys(p, "k", None)
    assert cache.l1.get(l1_key, cache.clock()) is not None
    assert await redis.exists(PREFIX + text)

    cache.l1.entries.clear()  # L1 lost (a restart): L2 answers and refills L1
    assert await cache.get(p, "k", compute) == {"n": 1}
    assert cache.l1.get(l1_key, cache.clock()) is not None

    cache.l1.entries.clear()
    await redis.delete(PREFIX + text)  # Redis flushed too: L3 answers and refills both
    assert await cache.get(p, "k", compute) == {"n": 1}
    assert await redis.exists(PREFIX + text)
    assert cache.l1.get(l1_key, cache.clock()) is not None
    assert compute.calls == 1


async def test_values_keep_their_types_through_redis_and_postgres(cache: TieredCache) -> None:
    from datetime import date, datetime
    from decimal import Decimal

    value = [
        {
            "total": Decimal("12.30"),
            "on": date(2024, 1, 2),
            "at": datetime(2024, 1, 2, 3, 4, 5),
            "n": 3,
        }
    ]
    p = policy()
    await cache.get(p, "typed", Counter(value))
    cache.l1.entries.clear()
    assert await cache.get(p, "typed", Counter()) == value
    cache.l1.entries.clear()
    assert cache.l2 is not None
    await cache.l2.redis.flushdb()
    assert await cache.get(p, "typed", Counter()) == value


async def test_ttl_expiry_on_a_fake_clock(cache: TieredCache) -> None:
    clock = cache.clock
    assert isinstance(clock, FakeClock)
    p, compute = policy(ttl=30, tiers=frozenset({L1, L2})), Counter()
    await cache.get(p, "k", compute)
    clock.now += 29
    await cache.get(p, "k", compute)
    assert compute.calls == 1
    clock.now += 2  # past the TTL in every tier
    await cache.get(p, "k", compute)
    assert compute.calls == 2


def test_l1_is_a_bounded_lru(settings: Settings, db: Database) -> None:
    small = TieredCache(replace(settings, cache_l1_entries=3), db, None)
    for key in "abcd":
        small.l1.set(key, Entry(key, math.inf, 0))
        small.l1.get("a", 0)  # "a" stays recently used
    assert set(small.l1.entries) == {"a", "c", "d"}


@pytest.mark.parametrize("gap", [0.5, 1.0, 2.0, 4.0])
def test_xfetch_refreshes_early_with_the_right_probability(
    settings: Settings, db: Database, gap: float
) -> None:
    """At `gap` seconds before expiry, with delta = 1 s and beta = 1, XFetch recomputes when
    -ln(U) >= gap: probability exp(-gap)."""
    cache = TieredCache(settings, db, None, rng=random.Random(42))
    entry = Entry("v", expires_at=1_000.0, delta=1.0)
    trials = 20_000
    early = sum(cache._early(entry, 1_000.0 - gap) for _ in range(trials))
    expected = math.exp(-gap)
    assert abs(early / trials - expected) < 4 * math.sqrt(expected * (1 - expected) / trials)


async def test_xfetch_recomputes_a_hot_key_before_it_expires(cache: TieredCache) -> None:
    clock = cache.clock
    assert isinstance(clock, FakeClock)
    p = policy(ttl=10, tiers=frozenset({L1}))
    l1_key, _ = cache._keys(p, "hot", None)
    cache.l1.set(l1_key, Entry("old", clock.now + 0.5, delta=5.0))  # slow to compute, near expiry
    compute = Counter("new")
    results = [await cache.get(p, "hot", compute) for _ in range(20)]
    assert compute.calls == 1  # refreshed once, early, while the old value had not expired
    assert results[-1] == "new"


async def test_two_hundred_callers_on_an_expiring_aggregate_cause_one_computation(
    cache: TieredCache, db: Database
) -> None:
    """An aggregate as spending caches it (L1, L2, L3, the lock) under 200 concurrent
    callers: past its TTL PostgreSQL still has it and nothing is computed; once a write
    moves its version it is computed once, not once per caller. (Two processes racing:
    tests/cache/test_distributed.py.)"""
    clock = cache.clock
    assert isinstance(clock, FakeClock)
    p = policy(ttl=5, lock=True, version=f"test-version:{uuid.uuid4().hex[:8]}")
    computations = 0

    async def aggregate() -> int:
        nonlocal computations
        computations += 1
        value: int = await db.fetchval("SELECT count(*) FROM contracts, pg_sleep(0.05)")
        return value + computations

    async def two_hundred() -> set[int]:
        return set(await asyncio.gather(*(cache.get(p, "hot", aggregate) for _ in range(200))))

    warm = await cache.get(p, "hot", aggregate)
    clock.now += 10  # past the TTL in L1 and L2
    assert await two_hundred() == {warm}
    assert computations == 1
    await cache.versions.bump(p.version)  # a write: every tier's copy is stale now
    (fresh,) = await two_hundred()
    assert computations == 2 and fresh == warm + 1


async def test_two_hundred_callers_on_a_key_past_its_ttl_cause_one_computation(
    cache: TieredCache,
) -> None:
    clock = cache.clock
    assert isinstance(clock, FakeClock)
    p = policy(ttl=5, tiers=frozenset({L1, L2}), lock=True)  # no L3: the TTL is the end
    compute = Slow()
    await cache.get(p, "hot", compute)
    clock.now += 10
    values = await asyncio.gather(*(cache.get(p, "hot", compute) for _ in range(200)))
    assert compute.calls == 2 and set(values) == {2}


class Slow:
    """A computation that yields while it runs, so that every caller arrives meanwhile."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        for _ in range(10):
            await asyncio.sleep(0)
        return self.calls


async def test_get_many_batches_misses_and_shares_flights(cache: TieredCache) -> None:
    p = policy(tiers=frozenset({L1, L2}))
    batches: list[list[int]] = []

    async def rows(ids: list[int]) -> list[Any]:
        batches.append(list(ids))
        await asyncio.sleep(0.01)
        return [{"id": i} if i != 3 else None for i in ids]

    first, second = await asyncio.gather(
        cache.get_many(p, [1, 2, 3], rows), cache.get_many(p, [2, 3, 4], rows)
    )
    assert first == [{"id": 1}, {"id": 2}, None]
    assert second == [{"id": 2}, None, {"id": 4}]
    # Two batches, and no key in both: the second caller awaited what the first was fetching.
    assert len(batches) == 2 and sorted(k for b in batches for k in b) == [1, 2, 3, 4]
    assert await cache.get_many(p, [1, 2, 4], rows) == [{"id": 1}, {"id": 2}, {"id": 4}]
    assert len(batches) == 2


async def test_redis_tier_is_bounded_by_the_cache(
    settings: Settings, db: Database, redis: aioredis.Redis
) -> None:
    await redis.flushdb()
    small = TieredCache(replace(settings, cache_l2_entries=5), db, redis)
    p = policy(tiers=frozenset({L2}))
    for i in range(8):
        await small.put(p, f"k{i}", i)
    assert await redis.zcard(INDEX) == 5
    assert [await small.peek(p, f"k{i}") for i in range(8)] == [None, None, None, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("strategy", "tiers"),
    [("multi_tier", {L1, L2, L3}), ("memory", {L1}), ("redis", {L2}), ("none", set())],
)
def test_strategy_selects_tiers(
    settings: Settings, db: Database, redis: aioredis.Redis, strategy: str, tiers: set[str]
) -> None:
    chosen = TieredCache(replace(settings, cache_strategy=strategy), db, redis)
    assert chosen._tiers(policy()) == tiers


async def test_strategy_none_always_computes(settings: Settings, db: Database) -> None:
    off = TieredCache(replace(settings, cache_strategy="none"), db, None)
    compute = Counter()
    await off.get(policy(), "k", compute)
    await off.get(policy(), "k", compute)
    assert compute.calls == 2


async def test_private_values_need_a_user_and_stay_with_it(cache: TieredCache) -> None:
    p = policy(private=True)
    with pytest.raises(ValueError, match="private"):
        await cache.get(p, "keys", Counter())
    assert await cache.get(p, "keys", Counter("ana's"), user="ana") == "ana's"
    assert await cache.get(p, "keys", Counter("bia's"), user="bia") == "bia's"
    assert await cache.peek(p, "keys", user="ana") == "ana's"


class Ticks:
    """A sleep that returns only when the test lets it: each call says how long it asked for."""

    def __init__(self) -> None:
        self.asked: asyncio.Queue[float] = asyncio.Queue()
        self.go: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.asked.put_nowait(seconds)
        await self.go.get()


async def test_versions_are_re_read_every_five_seconds_without_an_announcement(
    settings: Settings, db: Database
) -> None:
    """A write whose announcement was lost (no Redis here at all) is seen at the next poll,
    five seconds on: the poll's sleep is the test's, so no time passes for real."""
    made = TieredCache(settings, db, None)
    ticks = Ticks()
    made.versions = Versions(db, None, made._dropped, made.versions.poll_seconds, sleep=ticks)
    await made.start()
    try:
        p = policy(tiers=frozenset({L1}), version=f"test-version:{uuid.uuid4().hex[:8]}")
        assert await asyncio.wait_for(ticks.asked.get(), 10) == 5.0
        assert await made.get(p, "k", Counter("old")) == "old"
        await bump_version(db, p.version)  # another instance's write, never announced
        assert await made.get(p, "k", Counter("new")) == "old"  # not heard of yet
        ticks.go.put_nowait(None)  # five seconds pass
        assert await asyncio.wait_for(ticks.asked.get(), 10) == 5.0  # polled, asleep again
        assert made.versions.get(p.version) == 2
        assert await made.get(p, "k", Counter("new")) == "new"
    finally:
        await made.close()


async def test_a_bulk_requests_rows_skip_the_tiers(settings: Settings, db: Database) -> None:
    """Rows by id go through the tiers, except for a bulk key's request (`cache_rows`
    False: an export reads each row once), which reads them from PostgreSQL and keeps none."""
    made = TieredCache(settings, db, None)
    supplier_id = await db.fetchval("SELECT min(id) FROM suppliers")
    bulk = Loaders(db, made, cache_rows=False)
    row = await bulk.supplier.load(supplier_id)
    assert row is not None and row["id"] == supplier_id
    assert not made.l1.entries
    ordinary = Loaders(db, made)
    row = await ordinary.supplier.load(supplier_id)
    assert row is not None and row["id"] == supplier_id
    assert len(made.l1.entries) == 1
