"""Investigations end to end: lifecycle, cancellation, owners, bad targets, a worker killed
mid-job, and a restart with one running."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest

from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.investigations import runner, store
from cidadao_gql.investigations.pool import AgentPool
from cidadao_gql.investigations.queue import LocalJobs
from cidadao_gql.investigations.runner import MAX_ATTEMPTS
from cidadao_gql.runtime.resources import open_resources
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from tests.conftest import ROOT, connect

START = """mutation($target: InvestigationTarget!, $agents: [String!]) {
  startInvestigation(target: $target, agents: $agents) { id status agents }
}"""
READ = """query($id: ID!) { investigation(id: $id) {
  status progress error summary
  findings(first: 100) { totalCount nodes { kind severity score summary evidence contracts { id } } }
} }"""
ANA = User(id="ana", scopes=frozenset({"read", "investigate"}))
BIA = User(id="bia", scopes=frozenset({"read", "investigate"}))


class Api:
    """The schema as a given user sees it, with an executor running jobs in process."""

    def __init__(
        self, schema: Any, db: Database, settings: Settings, jobs: LocalJobs,
        executor: AgentPool | None = None,
    ) -> None:  # fmt: skip
        self.schema, self.db, self.settings, self.jobs = schema, db, settings, jobs
        self.executor = executor

    async def __call__(self, user: User | None, query: str, **variables: Any) -> Any:
        context = Context(self.db, self.settings, Loaders(self.db), user, "t", jobs=self.jobs)
        return await self.schema.execute(query, variable_values=variables, context_value=context)

    async def data(self, user: User | None, query: str, **variables: Any) -> Any:
        result = await self(user, query, **variables)
        assert result.errors is None, result.errors
        return result.data

    async def code(self, user: User | None, query: str, **variables: Any) -> str:
        result = await self(user, query, **variables)
        assert result.errors, result.data
        code: str = result.errors[0].formatted["extensions"]["code"]
        return code

    async def finished(self, user: User, investigation: str) -> Any:
        found: Any = None

        async def ended() -> bool:
            nonlocal found
            found = (await self.data(user, READ, id=investigation))["investigation"]
            return found["status"] in ("COMPLETED", "FAILED", "CANCELLED")

        await until(ended, "the investigation to finish")
        return found


@pytest.fixture
async def api(schema: Any, db: Database, settings: Settings) -> AsyncIterator[Api]:
    jobs = LocalJobs()
    executor = AgentPool(db, jobs, workers=2, agent_concurrency=4)
    await executor.start()
    yield Api(schema, db, settings, jobs, executor)
    await executor.close(drain_seconds=5)


async def busiest_agency(db: Database) -> int:
    agency: int = await db.fetchval(
        "SELECT agency_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    return agency


async def test_an_investigation_runs_to_completion_with_findings(api: Api, db: Database) -> None:
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    started = (await api.data(ANA, START, target=target))["startInvestigation"]
    assert started["status"] == "PENDING" and len(started["agents"]) == 8
    done = await api.finished(ANA, started["id"])
    assert done["status"] == "COMPLETED" and done["progress"] == 1
    found = done["findings"]
    assert found["nodes"], "the busiest agency has planted anomalies"
    assert all(f["summary"] and f["evidence"] for f in found["nodes"])
    assert done["summary"].startswith(f"{found['totalCount']} findings")
    events = await store.events_of(db, uuid.UUID(started["id"]))
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["created", "started"]
    created = events[0]["payload"]  # the agents that run, as the mutation said: not []
    assert (orjson.loads(created) if isinstance(created, str) else created) == {
        "agents": started["agents"]
    }
    assert kinds[2:-1] == ["progress"] * 8 and kinds[-1] == "finished"


PRICED = """query($id: ID!, $n: Int!, $m: Int!) { investigation(id: $id) {
  findings(first: $n) { nodes { kind contracts(first: $m) { number finalValue supplier { name } } } }
} }"""


async def test_findings_and_their_contracts_are_priced_by_first(api: Api, db: Database) -> None:
    """Findings and the contracts of a finding are sliced by `first`, and priced by it:
    the requested cost is an upper bound of what came back (it once was 3 for 1,815)."""
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    started = (await api.data(ANA, START, target=target))["startInvestigation"]
    await api.finished(ANA, started["id"])
    stored = await store.findings_of(db, uuid.UUID(started["id"]))
    assert len(stored) > 2 and max(len(f["contract_ids"]) for f in stored) > 1
    result = await api(ANA, PRICED, id=started["id"], n=2, m=1)
    assert result.errors is None, result.errors
    findings = result.data["investigation"]["findings"]["nodes"]
    assert [f["kind"] for f in findings] == [f["kind"] for f in stored[:2]]
    assert all(len(f["contracts"]) == 1 for f in findings)
    cost = result.extensions["cost"]
    # investigation 1 + findings 1 + its 2 rows 1 (a point per 5) + 2 × (contracts 1
    # + its row 1 + supplier 0)
    assert cost["requestedQueryCost"] == 7
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"]
    everything = await api(ANA, PRICED, id=started["id"], n=90, m=9)  # 2 + 18 + 90 × 3
    assert everything.errors is None, everything.errors
    cost = everything.extensions["cost"]
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"]
    for n, m in ((0, 1), (1, 101)):
        assert await api.code(ANA, PRICED, id=started["id"], n=n, m=m) == "INVALID_PAGE_SIZE"


async def test_chosen_agents_only(api: Api, db: Database) -> None:
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    started = (await api.data(ANA, START, target=target, agents=["amendment_ceiling"]))[
        "startInvestigation"
    ]
    done = await api.finished(ANA, started["id"])
    assert {f["kind"] for f in done["findings"]["nodes"]} <= {"amendment_over_ceiling"}


async def test_cancelling_a_running_investigation(
    api: Api, db: Database, settings: Settings
) -> None:
    assert settings.database_url
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    async with connect(settings.database_url) as blocker:
        async with blocker.transaction():
            # Sanctions are read by one agent only, and not when the target is checked.
            await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
            started = (await api.data(ANA, START, target=target))["startInvestigation"]
            cancelled = await api.data(
                ANA,
                "mutation($id: ID!) { cancelInvestigation(id: $id) { status } }",
                id=started["id"],
            )
        assert cancelled == {"cancelInvestigation": {"status": "CANCELLED"}}
        done = await api.finished(ANA, started["id"])
    executor = api.executor
    assert executor is not None

    async def idle() -> bool:  # the agents finished their queries and found it cancelled
        return executor.busy == 0

    await until(idle, "the executor to let go of the job")
    assert done["status"] == "CANCELLED" and done["findings"] == {"totalCount": 0, "nodes": []}
    again = await api.code(
        ANA, "mutation($id: ID!) { cancelInvestigation(id: $id) { status } }", id=started["id"]
    )
    assert again == "NOT_CANCELLABLE"
    assert (await store.findings_of(db, uuid.UUID(started["id"]))) == []


async def test_only_the_owner_sees_an_investigation(api: Api, db: Database) -> None:
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    started = (await api.data(ANA, START, target=target))["startInvestigation"]
    assert await api.code(BIA, READ, id=started["id"]) == "NOT_FOUND"
    assert (
        await api.code(
            BIA, "mutation($id: ID!) { cancelInvestigation(id: $id) { status } }", id=started["id"]
        )
        == "NOT_FOUND"
    )
    assert await api.code(None, READ, id=started["id"]) == "UNAUTHENTICATED"
    assert await api.code(None, START, target=target) == "UNAUTHENTICATED"
    reader = User(id="ana", scopes=frozenset({"read"}))
    assert await api.code(reader, START, target=target) == "FORBIDDEN"
    mine = (await api.data(ANA, "{ investigations { id } }"))["investigations"]
    theirs = (await api.data(BIA, "{ investigations { id } }"))["investigations"]
    assert started["id"] in [i["id"] for i in mine]
    assert started["id"] not in [i["id"] for i in theirs]
    await api.finished(ANA, started["id"])


@pytest.mark.parametrize(
    ("target", "agents", "code"),
    [
        ({"agencies": [encode_id("Agency", 10**9)]}, None, "INVALID_TARGET"),
        ({"suppliers": [encode_id("Supplier", 10**9)]}, None, "INVALID_TARGET"),
        ({"signedFrom": "2024-05-01", "signedTo": "2024-04-01"}, None, "INVALID_TARGET"),
        ({"signedFrom": "1990-01-01", "signedTo": "1990-12-31"}, None, "INVALID_TARGET"),
        ({"agencies": [encode_id("Supplier", 1)]}, None, "INVALID_ID"),
        ({}, ["astrology"], "BAD_USER_INPUT"),
    ],
    ids=[
        "unknown agency",
        "unknown supplier",
        "backwards period",
        "empty period",
        "wrong id",
        "unknown agent",
    ],
)
async def test_bad_targets_are_refused(
    api: Api, target: dict[str, Any], agents: list[str] | None, code: str
) -> None:
    before = await api.db.fetchval("SELECT count(*) FROM investigations")
    assert await api.code(ANA, START, target=target, agents=agents) == code
    assert await api.db.fetchval("SELECT count(*) FROM investigations") == before


async def test_an_agency_with_awards_but_no_contracts_is_a_target(api: Api, db: Database) -> None:
    """The PNCP sample's agencies have procurements and results but no contracts: agents
    that read awards apply to them, so they are not refused."""
    agency = await db.fetchval(
        """SELECT p.agency_id FROM awards a JOIN items i ON i.id = a.item_id
             JOIN procurements p ON p.id = i.procurement_id
            WHERE NOT EXISTS (SELECT FROM contracts c WHERE c.agency_id = p.agency_id)
            ORDER BY 1 LIMIT 1"""
    )
    assert agency is not None, "the PNCP sample is loaded"
    target = {"agencies": [encode_id("Agency", agency)]}
    started = (await api.data(ANA, START, target=target, agents=["price_outlier"]))[
        "startInvestigation"
    ]
    assert (await api.finished(ANA, started["id"]))["status"] == "COMPLETED"


async def test_a_restart_resumes_a_running_investigation(settings: Settings, db: Database) -> None:
    """An API that died mid-run left it `running`; the next start picks it up once the dead
    process's lease (INVESTIGATION_CLAIM_AFTER) has lapsed."""
    row = await store.create(
        db, "ana", store.target_from_json({"agency_ids": [await busiest_agency(db)]}), []
    )
    await store.start(db, row["id"])  # as if the dead process had started it

    async def completed() -> bool:
        status = await db.fetchval("SELECT status FROM investigations WHERE id = $1", row["id"])
        return bool(status == "completed")

    async with open_resources(replace(settings, redis_url=None, investigation_claim_after=1)):
        await until(completed, "the restarted API to finish it")
    assert await db.fetchval("SELECT attempts FROM investigations WHERE id = $1", row["id"]) == 2


async def until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    """Wait for a condition on the database: polled, with a deadline that only a broken
    run reaches (the condition, not the time, is what the test waits for)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def comparable(findings: list[Any]) -> list[tuple[Any, ...]]:
    """What a finding says, without the row's own id, investigation and time."""
    own = {"id", "investigation_id", "created_at"}
    return sorted(
        tuple(sorted((k, str(v)) for k, v in dict(f).items() if k not in own)) for f in findings
    )


LEASE = 0.2  # seconds: short, so that each death's job is claimable again soon


async def test_an_investigation_whose_workers_die_three_times_is_failed_with_a_reason(
    settings: Settings, db: Database
) -> None:
    """Three attempts each die mid-job (stuck on a locked table, then gone: a worker's
    death leaves the job `running` and cleans nothing up); the fourth start fails it."""
    assert settings.database_url
    row = await store.create(
        db, "ana", store.target_from_json({"agency_ids": [await busiest_agency(db)]}),
        ["sanctioned_supplier"],
    )  # fmt: skip
    investigation = row["id"]

    async def attempts() -> tuple[str, int]:
        found = await db.fetchrow(
            "SELECT status, attempts FROM investigations WHERE id = $1", investigation
        )
        assert found is not None
        return found["status"], found["attempts"]

    async def lapsed() -> bool:
        """No live worker holds it: a dead one's lease has run out (another worker would
        not take it over before that)."""
        return bool(await db.fetchval(
            "SELECT heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2)"
            " FROM investigations WHERE id = $1", investigation, LEASE,
        ))  # fmt: skip

    async with connect(settings.database_url) as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            await until(lapsed, f"the lease of attempt {attempt - 1} to lapse")
            dying = asyncio.create_task(runner.run(db, investigation, lease=LEASE))

            async def started(attempt: int = attempt) -> bool:
                return await attempts() == ("running", attempt)

            await until(started, f"attempt {attempt} to start")
            dying.cancel()  # the worker dies mid-job
            with pytest.raises(asyncio.CancelledError):
                await dying
    await until(lapsed, "the last lease to lapse")
    assert await runner.run(db, investigation, lease=LEASE) == "failed"
    assert await attempts() == ("failed", MAX_ATTEMPTS + 1)
    error = await db.fetchval("SELECT error FROM investigations WHERE id = $1", investigation)
    assert error == f"gave up after {MAX_ATTEMPTS} attempts (workers died)"
    assert await store.findings_of(db, investigation) == []
    kinds = [e["kind"] for e in await store.events_of(db, investigation)]
    assert kinds.count("started") == MAX_ATTEMPTS + 1 and kinds[-1] == "finished"


async def test_chunks_find_exactly_what_one_pass_finds(db: Database) -> None:
    """The runner itself, over the whole data set in chunks of 500 contracts (one per few
    agencies) and in one pass: the same findings, row for row."""
    whole = store.target_from_json({})
    assert len(await runner.chunks(db, whole, 500)) > 3
    one_pass = await store.create(db, "ana", whole, [])
    chunked = await store.create(db, "ana", whole, [])
    assert await runner.run(db, one_pass["id"]) == "completed"
    assert await runner.run(db, chunked["id"], chunk_size=500) == "completed"
    expected = await store.findings_of(db, one_pass["id"])
    assert len(expected) > 20
    assert comparable(await store.findings_of(db, chunked["id"])) == comparable(expected)


async def test_a_full_queue_answers_service_busy(
    schema: Any, db: Database, settings: Settings
) -> None:
    full = Api(schema, db, settings, LocalJobs(max_pending=1))  # nobody takes jobs from it
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    queued = (await full.data(ANA, START, target=target))["startInvestigation"]
    result = await full(ANA, START, target=target)
    assert result.errors is not None
    (error,) = [e.formatted for e in result.errors]
    assert error["extensions"]["code"] == "SERVICE_BUSY"
    assert queued["status"] == "PENDING" and await full.jobs.backlog() == 1
    refused = await db.fetchrow(
        "SELECT status, error FROM investigations WHERE user_id = 'ana' ORDER BY created_at DESC LIMIT 1"
    )
    assert refused is not None
    assert tuple(refused) == ("failed", "the agent pool's queue was full")


@pytest.mark.parametrize("stream_lost", [False, True], ids=["stream-kept", "stream-lost"])
async def test_a_worker_killed_mid_job_loses_nothing(
    settings: Settings, redis_url: str, db: Database, stream_lost: bool
) -> None:
    """A `cidadao-gql worker` is killed (SIGKILL) once it has recorded progress for seven of
    the eight agents, the eighth stuck on a locked table; another worker claims the job once
    its lease lapses and finishes it, once, with exactly the findings of a clean run of the
    same target; and when Redis lost the job with the whole stream, the sweep queues it
    again from PostgreSQL."""
    assert settings.database_url
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url,
           "INVESTIGATION_CLAIM_AFTER": "1", "AGENT_POOL_SIZE": "1"}  # fmt: skip

    async def worker() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cidadao_gql.cli", "worker", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    import redis.asyncio as aioredis

    from cidadao_gql.investigations.queue import STREAM, StreamJobs

    target = store.target_from_json({"agency_ids": [await busiest_agency(db)]})
    clean = await store.create(db, "ana", target, [])
    assert await runner.run(db, clean["id"]) == "completed"
    row = await store.create(db, "ana", target, [])

    async def state() -> tuple[str, float]:
        found = await db.fetchrow(
            "SELECT status, progress FROM investigations WHERE id = $1", row["id"]
        )
        assert found is not None
        return found["status"], found["progress"]

    async def seven_agents_done() -> bool:
        return await state() == ("running", 7 / 8)

    async def completed() -> bool:
        return (await state())[0] == "completed"

    client = aioredis.Redis.from_url(redis_url)
    jobs = StreamJobs(client, "test")
    await jobs.ensure_group()
    async with connect(settings.database_url) as blocker:
        first = await worker()
        try:
            async with blocker.transaction():
                # Only sanctioned_supplier reads sanctions: the other seven finish.
                await blocker.execute("LOCK TABLE sanctions IN ACCESS EXCLUSIVE MODE")
                await jobs.submit(row["id"])
                await until(seven_agents_done, "the first worker to finish seven agents")
                first.send_signal(signal.SIGKILL)
                await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        if stream_lost:
            await client.delete(STREAM)
        second = await worker()
        try:
            await until(completed, "the second worker to finish the job")
        finally:
            second.send_signal(signal.SIGTERM)
            await second.wait()
    await client.aclose()
    attempts = await db.fetchval("SELECT attempts FROM investigations WHERE id = $1", row["id"])
    finished = [e for e in await store.events_of(db, row["id"]) if e["kind"] == "finished"]
    assert attempts == 2  # the dead worker's try and the one that finished
    assert len(finished) == 1  # finished once
    expected = await store.findings_of(db, clean["id"])
    assert expected, "the busiest agency has planted anomalies"
    assert comparable(await store.findings_of(db, row["id"])) == comparable(expected)
    summaries = await db.fetch(
        "SELECT summary FROM investigations WHERE id = any($1::uuid[])", [clean["id"], row["id"]]
    )
    assert len({r["summary"] for r in summaries}) == 1


async def test_events_are_appended_to_the_investigations_stream(
    db: Database, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis.asyncio as aioredis

    from cidadao_gql.investigations import runner
    from cidadao_gql.investigations.queue import StreamJobs, events_stream

    monkeypatch.setattr(runner, "FINDINGS_ANNOUNCED", 2)  # below what agents find here
    client = aioredis.Redis.from_url(redis_url)
    jobs = StreamJobs(client, "test")
    row = await store.create(
        db, "ana", store.target_from_json({"agency_ids": [await busiest_agency(db)]}), []
    )
    assert await runner.run(db, row["id"], announce=jobs.announce) == "completed"
    events: Any = await client.xrange(events_stream(row["id"]))
    await client.aclose()
    kinds = [fields[b"kind"].decode() for _, fields in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("progress") == 8
    assert "finding" in kinds
    payloads = [orjson.loads(f[b"payload"]) for _, f in events if f[b"kind"] == b"progress"]
    progress = [p["progress"] for p in payloads]
    assert progress == sorted(progress) and progress[-1] == 1.0
    # The stream's cap is reported in it: each agent's progress says how many it found
    # and how many of them follow as events.
    cap = 2
    assert all(p["announced"] == min(p["findings"], cap) for p in payloads)
    assert kinds.count("finding") == sum(p["announced"] for p in payloads)
    assert any(p["findings"] > cap for p in payloads), "an agent found more than the cap"


PAGES = """query($id: ID!, $after: String) { investigation(id: $id) {
  findings(first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { kind score summary } } } }"""


async def test_findings_are_a_connection_paged_by_cursor(api: Api, db: Database) -> None:
    """Every finding once, in the stored order (strongest first), by pages of 2."""
    target = {"agencies": [encode_id("Agency", await busiest_agency(db))]}
    started = (await api.data(ANA, START, target=target))["startInvestigation"]
    await api.finished(ANA, started["id"])
    stored = await store.findings_of(db, uuid.UUID(started["id"]))
    seen: list[tuple[str, float, str]] = []
    after = None
    while True:
        page = (await api.data(ANA, PAGES, id=started["id"], after=after))["investigation"]
        findings = page["findings"]
        assert findings["totalCount"] == len(stored)
        seen += [(f["kind"], f["score"], f["summary"]) for f in findings["nodes"]]
        if not findings["pageInfo"]["hasNextPage"]:
            break
        after = findings["pageInfo"]["endCursor"]
    assert len(stored) > 4
    assert seen == [(r["kind"], r["score"], r["summary"]) for r in stored]
    bad = await api.code(ANA, PAGES, id=started["id"], after=f"{after}x")
    assert bad == "INVALID_CURSOR"


async def test_the_report_is_written_by_the_llm_when_one_is_configured(settings: Settings) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from cidadao_gql.agents import Finding
    from cidadao_gql.investigations.narrative import Narrator
    from tests.conftest import live_server

    asked: list[Any] = []

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        asked.append((request.headers.get("authorization"), body))
        if body["model"] == "broken":
            return JSONResponse({"error": "overloaded"}, status_code=503)
        return JSONResponse(
            {"choices": [{"message": {"role": "assistant", "content": "Relatório do LLM."}}]}
        )

    finding = Finding(
        "amendment_ceiling", "amendment_over_ceiling", "high", 0.7, "final value 1.8× the initial"
    )
    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    async with live_server(app) as local:
        base = f"{local.base_url}/v1"
        narrator = Narrator(replace(settings, llm_api_url=base, llm_api_key="k", llm_model="m"))
        written = await narrator.write([finding])
        broken = Narrator(replace(settings, llm_api_url=base, llm_model="broken"))
        fallback = await broken.write([finding])
        await narrator.close()
        await broken.close()
    assert written == "Relatório do LLM."
    assert asked[0][0] == "Bearer k"
    assert "final value 1.8× the initial" in asked[0][1]["messages"][0]["content"]
    assert fallback.startswith("1 findings (1 high)")  # the written summary, not an error
    no_llm = Narrator(settings)
    assert (await no_llm.write([finding])).startswith("1 findings")


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_a_page_size_out_of_bounds_is_invalid_page_size_as_on_every_list(
    api: Api, first: int
) -> None:
    query = "query($first: Int!) { investigations(first: $first) { id } }"
    assert await api.code(ANA, query, first=first) == "INVALID_PAGE_SIZE"


async def test_an_agent_that_fails_cancels_its_siblings(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agents run in a TaskGroup: one failing cancels the others at once (gather left them
    running on after the investigation was failed), and the failure is the reason."""
    sibling_cancelled = asyncio.Event()

    class Failing:
        name = "failing"

        async def run(self, db: Database, target: Any) -> list[Any]:
            await asyncio.sleep(0.05)
            raise RuntimeError("the statistic broke")

    class Slow:
        name = "slow"

        async def run(self, db: Database, target: Any) -> list[Any]:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                sibling_cancelled.set()
                raise
            return []

    monkeypatch.setattr(runner, "AGENTS_BY_NAME", {"failing": Failing(), "slow": Slow()})
    row = await store.create(db, "ana", store.target_from_json({}), ["failing", "slow"])
    status = await asyncio.wait_for(runner.run(db, row["id"]), 30)
    assert status == "failed" and sibling_cancelled.is_set()
    failed = await db.fetchrow("SELECT status, error FROM investigations WHERE id = $1", row["id"])
    assert failed is not None
    assert tuple(failed) == ("failed", "RuntimeError: the statistic broke")
