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

from cidadao_gql.cache import L1, L2, L3, Policy, TieredCache
from cidadao_gql.cache.memory import Entry
from cidadao_gql.cache.redis_tier import INDEX, PREFIX
from cidadao_gql.db import Database
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


async def test_two_hundred_callers_on_an_expired_key_cause_one_computation(
    cache: TieredCache, db: Database
) -> None:
    clock = cache.clock
    assert isinstance(clock, FakeClock)
    p = policy(ttl=5, lock=True)

    async def aggregate() -> int:
        value: int = await db.fetchval("SELECT count(*) FROM contracts, pg_sleep(0.05)")
        return value

    await cache.get(p, "hot", aggregate)
    clock.now += 10  # expired everywhere but L3, which is skipped here
    cache.l3 = _NoL3()  # type: ignore[assignment]  # an expired key, not one PostgreSQL still has
    before = await db.round_trips.settled()
    values = await asyncio.gather(*(cache.get(p, "hot", aggregate) for _ in range(200)))
    assert len(set(values)) == 1
    assert await db.round_trips.settled() - before == 1


class _NoL3:
    async def get_many(self, *_: Any) -> list[None]:
        return [None]

    async def set_many(self, *_: Any) -> None:
        return None


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
