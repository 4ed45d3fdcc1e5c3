"""Cost buckets: draining and refilling, shared through Redis, and failing open for reads."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from cidadao_gql import metrics
from cidadao_gql.data import apikeys
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.data.ratelimit import Allowance, Limiter, LocalLimiter, RedisLimiter
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import (
    FakeClock,
    Run,
    connect,
    free_port,
    live_server,
    redis_server,
    wait_for_redis,
)

# contracts 1 + totalCount 10 + 55 rows 11 (a point per 5; agency 0): 22, and uses all of it
QUERY = "{ contracts(first: 55) { totalCount nodes { agency { id } } } }"


async def drain_and_refill(limiter: Limiter, clock: FakeClock, client: str) -> None:
    assert limiter.capacity == 100 and limiter.restore_rate == 10
    first = await limiter.spend(client, 60, read_only=True)
    assert first.allowed and first.status.currently_available == 40
    second = await limiter.spend(client, 60, read_only=True)
    assert not second.allowed and second.status.currently_available == 40
    assert second.retry_after(60) == pytest.approx(2.0)
    clock.now += 1.5  # +15 points: 55, still short
    assert not (await limiter.spend(client, 60, read_only=True)).allowed
    clock.now += 0.5  # +5: exactly 60
    third = await limiter.spend(client, 60, read_only=True)
    assert third.allowed and third.status.currently_available == pytest.approx(0)
    refunded = await limiter.refund(client, 25)
    assert refunded.currently_available == pytest.approx(25)
    clock.now += 60  # refills to capacity and no further
    assert (await limiter.spend(client, 0, read_only=True)).status.currently_available == 100


async def test_local_bucket_drains_and_refills() -> None:
    clock = FakeClock()
    await drain_and_refill(LocalLimiter(100, 10, clock), clock, "ip:1")


async def test_redis_bucket_drains_and_refills(redis: aioredis.Redis) -> None:
    clock = FakeClock()
    await drain_and_refill(RedisLimiter(redis, 100, 10, clock), clock, f"test:{uuid.uuid4()}")


async def test_two_limiters_share_one_redis_bucket(redis: aioredis.Redis) -> None:
    clock, client = FakeClock(), f"test:{uuid.uuid4()}"
    one, other = RedisLimiter(redis, 100, 10, clock), RedisLimiter(redis, 100, 10, clock)
    assert (await one.spend(client, 70, read_only=True)).allowed
    assert not (await other.spend(client, 70, read_only=True)).allowed


async def test_a_throttled_query_touches_no_table(
    run: Run, db: Database, settings: Settings
) -> None:
    context = Context(db, settings, Loaders(db), None, "t", limiter=LocalLimiter(10, 1), client="c")
    before = await db.round_trips.settled()
    result = await run.schema.execute(QUERY, context_value=context)
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["retryAfter"] == pytest.approx(12.0, abs=0.1)
    assert result.extensions["cost"]["throttleStatus"]["maximumAvailable"] == 10
    assert await db.round_trips.settled() == before


async def key_for(settings: Settings, scopes: frozenset[str] = frozenset({"read"})) -> str:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        return (await apikeys.create_key(conn, f"bucket-{uuid.uuid4()}", scopes)).key


def available(answer: httpx.Response) -> float:
    status: float = answer.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    return status


async def test_two_app_instances_share_a_bucket_that_refills_on_the_clock(
    settings: Settings, redis_url: str
) -> None:
    """Both instances spend from one bucket in Redis; time moves only when the test moves
    it, so every level and the Retry-After are exact."""
    # The response cache would answer the repeats for free; these tests are about the bucket.
    limited = replace(
        settings,
        redis_url=redis_url,
        rate_limit_capacity=50,
        rate_limit_restore_rate=1,
        response_cache_ttl=0,
    )
    clock = FakeClock()
    headers = {"authorization": f"Bearer {await key_for(settings)}"}

    async def ask(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/graphql", json={"query": QUERY}, headers=headers)

    async with (
        live_server(create_app(limited, limiter_clock=clock)) as a,
        live_server(create_app(limited, limiter_clock=clock)) as b,
    ):
        first, second, third = await ask(a), await ask(b), await ask(a)
        clock.now += 15  # 6 + 15 = 21 points: one short
        fourth = await ask(b)
        clock.now += 1  # 22: exactly enough
        fifth = await ask(a)
    assert [r.status_code for r in (first, second, third, fourth, fifth)] == [
        200,
        200,
        429,
        429,
        200,
    ]
    assert (available(first), available(second)) == (28, 6)
    (error,) = third.json()["errors"]
    assert error["extensions"]["code"] == "THROTTLED"
    assert error["extensions"]["retryAfter"] == 16  # (22 - 6) points at 1 point a second
    assert "retry in" in error["message"]
    assert third.headers["retry-after"] == "16"
    assert third.json()["data"] is None
    assert fourth.headers["retry-after"] == "1"
    assert available(fifth) == 0


async def test_a_key_with_an_allowance_has_a_bucket_of_its_own(
    settings: Settings, redis_url: str
) -> None:
    """A bulk key (`apikey create --capacity --refill`) spends from its own bucket, with
    its own capacity and refill, reported in `throttleStatus`; the user's other keys keep
    the default bucket, untouched by it."""
    limited = replace(
        settings, redis_url=redis_url, rate_limit_capacity=50, rate_limit_restore_rate=1,
        response_cache_ttl=0,
    )  # fmt: skip
    assert limited.database_url
    user = f"bulk-{uuid.uuid4()}"
    async with connect(limited.database_url) as conn:
        plain = await apikeys.create_key(conn, user)
        bulk = await apikeys.create_key(conn, user, allowance=Allowance(5000, 2000))
    clock = FakeClock()

    async def ask(client: httpx.AsyncClient, key: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"}
        return await client.post("/graphql", json={"query": QUERY}, headers=headers)

    async with live_server(create_app(limited, limiter_clock=clock)) as client:
        bulk_answers = [await ask(client, bulk.key) for _ in range(5)]  # 110 points: over 50
        plain_answer = await ask(client, plain.key)
    assert [a.status_code for a in bulk_answers] == [200] * 5
    bulk_status = bulk_answers[-1].json()["extensions"]["cost"]["throttleStatus"]
    assert bulk_status == {
        "maximumAvailable": 5000, "currentlyAvailable": 5000 - 5 * 22, "restoreRate": 2000,
    }  # fmt: skip
    plain_status = plain_answer.json()["extensions"]["cost"]["throttleStatus"]
    assert plain_status == {"maximumAvailable": 50, "currentlyAvailable": 28, "restoreRate": 1}


@asynccontextmanager
async def started(port: int, directory: Path) -> AsyncIterator[None]:
    with redis_server(port, directory):
        await wait_for_redis(f"redis://127.0.0.1:{port}/0")
        yield


CANCEL = "mutation($id: ID!) { cancelInvestigation(id: $id) { status } }"


async def test_reads_go_on_and_writes_are_refused_while_redis_is_down(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    limited = replace(settings, redis_url=f"redis://127.0.0.1:{port}/0", rate_limit_capacity=50,
                      rate_limit_restore_rate=1, response_cache_ttl=0)  # fmt: skip
    headers = {"authorization": f"Bearer {await key_for(settings, frozenset({'investigate'}))}"}
    write = {"query": CANCEL, "variables": {"id": str(uuid.uuid4())}}
    failures = metrics.RATE_LIMITER_FAILURES._value.get()
    clock = FakeClock()
    with redis_server(port, tmp_path) as first_redis:
        await wait_for_redis(limited.redis_url or "")
        async with live_server(create_app(limited, limiter_clock=clock)) as client:
            before = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            first_redis.terminate()
            first_redis.wait(timeout=10)
            with caplog.at_level(logging.WARNING, logger="cidadao_gql.ratelimit"):
                during = [
                    await client.post("/graphql", json={"query": QUERY}, headers=headers)
                    for _ in range(4)
                ]
                refused = await client.post("/graphql", json=write, headers=headers)
            async with started(port, tmp_path):
                after = await client.post("/graphql", json={"query": QUERY}, headers=headers)
                written = await client.post("/graphql", json=write, headers=headers)
    assert before.status_code == 200 and available(before) == 28
    # Four reads of 22 points would overdraw a 50-point bucket: the limiter was open.
    assert [r.status_code for r in during] == [200] * 4
    assert all(r.json()["data"]["contracts"]["nodes"] for r in during)
    assert metrics.RATE_LIMITER_FAILURES._value.get() > failures
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
    # A write is refused while the limiter cannot count it, and runs once it can.
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert refused.json()["data"] is None
    assert [e["extensions"]["code"] for e in written.json()["errors"]] == ["NOT_FOUND"]
    # The restarted Redis starts with an empty, full bucket.
    assert after.status_code == 200 and available(after) == 28
