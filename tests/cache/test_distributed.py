"""The cache across processes and instances: one computation under a cluster-wide lock,
invalidation heard by another instance, Redis dying and coming back, private data."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from cidadao_gql.data import apikeys
from cidadao_gql.data.cache import announce, bump_version
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import ROOT, connect, free_port, live_server, redis_server, wait_for_redis

SPENDING = "{ spending(groupBy: UF, first: 3) { nodes { key total contractCount } } }"


class Race:
    """Two worker processes (tests/cache/lock_worker.py) with 100 readers each: 200 concurrent
    requests for one aggregate, across processes."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self.redis, self.key = redis, key

    async def tell(self, command: str) -> None:
        for index in ("0", "1"):
            await self.redis.rpush(f"{self.key}:go:{index}", command)

    async def get(self) -> list[list[int]]:
        """Both processes read; a computation is let finish only once both have arrived (one
        computing, the other waiting on its lock), so the race is real, not a matter of
        timing. The values each process saw."""
        await self.tell("get")
        seen: dict[str, list[int]] = {}
        arrived = 0
        while len(seen) < 2:
            popped = await self.redis.blpop([f"{self.key}:out"], timeout=60)
            assert popped is not None, "a worker went quiet"
            message = orjson.loads(popped[1])
            if message.get("arrived"):
                arrived += 1
                if arrived == 2:
                    await self.redis.rpush(f"{self.key}:release", 1, 1)
            else:
                seen[message["index"]] = message["values"]
        return [seen["0"], seen["1"]]


async def test_an_aggregate_expiring_under_200_requests_in_two_processes_is_computed_once(
    settings: Settings, redis_url: str
) -> None:
    """Spending's policy (L1, L2, L3 and the Redis lock). Cold: computed once for all 200.
    Past its TTL: PostgreSQL (L3) still has it, so nothing is computed. After a write moved
    its version (how an aggregate expires for good): computed once again, not per process."""
    assert settings.database_url
    key = uuid.uuid4().hex
    async with connect(settings.database_url) as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS cache_race (key text, computations int)")
        await conn.execute("INSERT INTO cache_race VALUES ($1, 0)", key)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.cache.lock_worker",
            settings.database_url,
            redis_url,
            key,
            index,
            cwd=ROOT,
        )
        for index in ("0", "1")
    ]
    # Blocking reads wait for the workers: longer than redis-py's default 5 s socket timeout
    # on a loaded machine.
    redis = aioredis.Redis.from_url(redis_url, socket_timeout=300)
    race = Race(redis, key)

    async def computations() -> int:
        assert settings.database_url
        async with connect(settings.database_url) as conn:
            count: int = await conn.fetchval(
                "SELECT computations FROM cache_race WHERE key = $1", key
            )
            return count

    try:
        cold = await race.get()
        after_cold = await computations()
        await race.tell("expire")
        expired = await race.get()
        after_expiry = await computations()
        async with connect(settings.database_url) as conn:
            await bump_version(conn, "data")
        await race.tell("refresh")
        bumped = await race.get()
        after_bump = await computations()
        await race.tell("quit")
        codes = [await asyncio.wait_for(w.wait(), timeout=60) for w in workers]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await redis.aclose()
    assert codes == [0, 0]
    assert (after_cold, after_expiry, after_bump) == (1, 1, 2)
    assert cold == expired == [[1], [1]]  # every reader in both processes saw the one value
    assert bumped == [[2], [2]]


async def test_a_write_is_seen_by_every_instance(settings: Settings, redis_url: str) -> None:
    assert settings.database_url
    shared = replace(settings, redis_url=redis_url)
    async with live_server(create_app(shared)) as a, live_server(create_app(shared)) as b:
        before_a = (await a.post("/graphql", json={"query": SPENDING})).json()
        before_b = (await b.post("/graphql", json={"query": SPENDING})).json()
        assert before_a["data"] == before_b["data"]
        top = before_a["data"]["spending"]["nodes"][0]
        async with connect(settings.database_url) as conn, conn.transaction():
            # A write through another process: a contract in the top UF, then the bump.
            await conn.execute(
                """INSERT INTO contracts (agency_id, supplier_id, number, object, modality, uf,
                                          initial_value, final_value, signed_on)
                   SELECT agency_id, supplier_id, 'cache-test', object, modality, uf, 1000, 1000,
                          signed_on FROM contracts WHERE uf = $1 LIMIT 1""",
                top["key"],
            )
            version = await bump_version(conn, "data")
        redis = aioredis.Redis.from_url(redis_url)
        await announce(redis, "data", version)
        await redis.aclose()
        # Pub/sub delivery takes milliseconds; an instance that had not subscribed yet when
        # it was announced re-reads the versions within 5 s. Either way, a condition.
        for _ in range(750):
            after_b = (await b.post("/graphql", json={"query": SPENDING})).json()
            if after_b["data"] != before_b["data"]:
                break
            await asyncio.sleep(0.02)
        after_a = (await a.post("/graphql", json={"query": SPENDING})).json()
    async with connect(settings.database_url) as conn, conn.transaction():
        await conn.execute("DELETE FROM contracts WHERE number = 'cache-test'")
        await bump_version(conn, "data")
    changed = {g["key"]: g for g in after_b["data"]["spending"]["nodes"]}[top["key"]]
    assert changed["contractCount"] == top["contractCount"] + 1
    assert after_a["data"] == after_b["data"]


async def test_a_write_by_hand_in_sql_is_seen_without_an_announcement(
    settings: Settings,
) -> None:
    """A write that goes around the writers (psql, no bump, no Redis) still reaches the
    cached spending pages: the data tables bump the version themselves (migration 0016),
    and an instance re-reads the versions within its poll (an outside tester saw the old
    total for the hour of SPENDING_CACHE)."""
    assert settings.database_url
    async with live_server(create_app(settings)) as client:
        before = (await client.post("/graphql", json={"query": SPENDING})).json()
        top = before["data"]["spending"]["nodes"][0]
        async with connect(settings.database_url) as conn:
            version = await conn.fetchval(
                "SELECT version FROM cache_versions WHERE namespace = 'data'"
            )
            await conn.execute(
                "UPDATE contracts SET final_value = final_value + 1000000 WHERE id = "
                "(SELECT min(id) FROM contracts WHERE uf = $1)",
                top["key"],
            )
            bumped = await conn.fetchval(
                "SELECT version FROM cache_versions WHERE namespace = 'data'"
            )
        assert bumped > (version or 1)  # the totals it keeps (0012) are writes too
        for _ in range(750):  # the poll is every 5 s: a condition, not a time
            after = (await client.post("/graphql", json={"query": SPENDING})).json()
            if after["data"] != before["data"]:
                break
            await asyncio.sleep(0.02)
    async with connect(settings.database_url) as conn:
        await conn.execute(
            "UPDATE contracts SET final_value = final_value - 1000000 WHERE id = "
            "(SELECT min(id) FROM contracts WHERE uf = $1)",
            top["key"],
        )
    changed = {g["key"]: g for g in after["data"]["spending"]["nodes"]}[top["key"]]
    assert Decimal(changed["total"]) == Decimal(top["total"]) + 1000000


async def test_redis_dying_under_load_and_returning_fails_no_request(
    settings: Settings, tmp_path: Path
) -> None:
    """Eight clients ask without pause (each request new to the response cache, so it runs
    and reads the cache tiers) while Redis is killed and later started again: every one
    of the requests is answered, and the cache writes to Redis again once it is back."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = create_app(replace(settings, redis_url=url, rate_limit_capacity=0))
    queries = [SPENDING, "{ contracts(first: 5) { nodes { number supplier { name } } } }"]
    answers: list[tuple[str, int, bool]] = []  # (phase, status, has data)
    phase = "up"
    stop = asyncio.Event()

    async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
        for _ in range(3000):  # polled; only a broken run reaches the end
            if await condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def answered(count: int) -> Callable[[], Awaitable[bool]]:
        async def enough() -> bool:
            return sum(1 for p, _, _ in answers if p == phase) >= count

        return enough

    async def cache_keys() -> bool:
        redis = aioredis.Redis.from_url(url)
        try:
            return bool(await redis.keys("cidadao:cache:*"))
        except (OSError, aioredis.ConnectionError):
            return False
        finally:
            await redis.aclose()

    with redis_server(port, tmp_path) as first:
        await wait_for_redis(url)
        async with live_server(app) as client:

            async def load(worker: int) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    body = {"query": queries[n % 2], "variables": {"w": worker, "n": n}}
                    answer = await client.post("/graphql", json=body)
                    answers.append((phase, answer.status_code, bool(answer.json().get("data"))))

            clients = [asyncio.create_task(load(w)) for w in range(8)]
            try:
                await until(answered(40), "answers with Redis up")
                first.kill()  # not a clean shutdown
                first.wait(timeout=10)
                phase = "down"
                await until(answered(80), "answers with Redis gone")
                with redis_server(port, tmp_path):
                    await wait_for_redis(url)
                    phase = "back"
                    await until(cache_keys, "the cache to write to Redis again")
                    await until(answered(40), "answers with Redis back")
                    stop.set()
                    await asyncio.gather(*clients)
            finally:
                stop.set()
                await asyncio.gather(*clients, return_exceptions=True)
    phases = {p for p, _, _ in answers}
    failed = [a for a in answers if a[1:] != (200, True)]
    assert phases == {"up", "down", "back"} and len(answers) >= 160
    assert failed == []


async def test_private_fields_never_cross_users(settings: Settings) -> None:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        ana = await apikeys.create_key(conn, f"ana-{uuid.uuid4().hex[:6]}")
        bia = await apikeys.create_key(conn, f"bia-{uuid.uuid4().hex[:6]}")
    query = {"query": "{ viewer { id keys { prefix } } }"}
    async with live_server(create_app(settings)) as client:
        answers = []
        for key in (ana, bia, ana, bia):
            answer = await client.post(
                "/graphql", json=query, headers={"authorization": f"Bearer {key.key}"}
            )
            answers.append(answer)
    assert [a.json()["data"]["viewer"]["keys"] for a in answers] == [
        [{"prefix": ana.key[:10]}],
        [{"prefix": bia.key[:10]}],
        [{"prefix": ana.key[:10]}],
        [{"prefix": bia.key[:10]}],
    ]
    assert all("x-cache" not in a.headers for a in answers)  # never a shared response
