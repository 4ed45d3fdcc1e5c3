"""Running one investigation, as a pipeline: plan (split a large target into chunks),
analyse (every chosen agent over every chunk: scatter-gather across agents, map-reduce
across chunks, at most `concurrency` agents at a time), write the report, and store the
findings with the finish in one transaction. Progress is recorded after each agent."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

from cidadao_gql import metrics
from cidadao_gql.agents import AGENTS, Agent, Finding, Target
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.statement import Sql
from cidadao_gql.errors import InvestigationCancelled, ServiceUnavailable
from cidadao_gql.investigations import store

log = logging.getLogger("cidadao_gql.investigations")
AGENTS_BY_NAME = {agent.name: agent for agent in AGENTS}
CHUNK_CONTRACTS = 50_000
MAX_ATTEMPTS = 3
FINDINGS_ANNOUNCED = 50  # per agent: the stream is for following along, PostgreSQL has all
RETRY_PAUSE = 1.0  # between tries of an investigation whose database went away


def summarize(findings: list[Finding]) -> str:
    """The report without an LLM: counts by severity and kind, then the strongest findings."""
    if not findings:
        return "No agent found anything that crosses its threshold."
    by_severity = Counter(f.severity for f in findings)
    by_kind = Counter(f.kind for f in findings)
    head = ", ".join(
        f"{by_severity[s]} {s}" for s in ("critical", "high", "medium", "low") if by_severity[s]
    )
    kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in by_kind.most_common())
    top = sorted(findings, key=lambda f: (-f.score, f.kind))[:3]
    lines = [f"{len(findings)} findings ({head}): {kinds}.", "Strongest:"]
    lines += [f"- {f.kind.replace('_', ' ')}: {f.summary}" for f in top]
    return "\n".join(lines)


Announce = Callable[..., Awaitable[None]]


async def _quiet(*_: object, **__: object) -> None:
    return None


async def chunks(db: Database, target: Target, size: int) -> list[Target]:
    """Map: a target of more than `size` contracts, split by agency into chunks of about
    `size` contracts (every agent's statistic is per agency or finer, so the chunks'
    findings together are the whole target's)."""
    sql = Sql()
    rows = await db.fetch(
        f"SELECT agency_id, count(*) AS n FROM contracts t WHERE {target.contracts(sql)}"
        " GROUP BY 1 ORDER BY 1",
        *sql.args,
    )
    if sum(r["n"] for r in rows) <= size or len(rows) < 2:
        return [target]
    parts: list[Target] = []
    current: list[int] = []
    filled = 0
    for r in rows:
        current.append(r["agency_id"])
        filled += r["n"]
        if filled >= size:
            parts.append(replace(target, agency_ids=tuple(current)))
            current, filled = [], 0
    if current:
        parts.append(replace(target, agency_ids=tuple(current)))
    return parts


def reduce_findings(findings: list[Finding]) -> list[Finding]:
    """Reduce: a supplier's first contract is one fact, though several chunks may see it."""
    kept, suppliers = [], set()
    for finding in findings:
        if finding.kind == "new_supplier":
            if finding.supplier_ids in suppliers:
                continue
            suppliers.add(finding.supplier_ids)
        kept.append(finding)
    return kept


async def run(
    db: Database,
    investigation: uuid.UUID,
    concurrency: int = 4,
    write: Callable[[list[Finding]], Awaitable[str]] | None = None,
    announce: Announce = _quiet,
    chunk_size: int = CHUNK_CONTRACTS,
    lease: float = 30.0,
    pause: float = RETRY_PAUSE,
) -> str:
    """Run an investigation to its end; returns the status it ended in (or `skipped` when it
    had finished, or a live worker holds it, as a redelivered job may find it). `write`
    turns the findings into the report (the written summary by default); `announce` appends
    to the event stream. The lease is renewed every third of `lease` while it runs.

    A lost database (DatabaseUnavailable: a connection lost twice, or none to be had) is no
    failure of the investigation: it goes on in place every `pause` seconds, keeping what
    the agents that finished found, for as long as the lease would last; then it is left
    `interrupted`, still running, for another worker once the lease lapses."""
    row = await store.start(db, investigation, lease)
    if row is None:
        return "skipped"
    metrics.JOBS_STARTED.inc()
    if row["attempts"] > 1:
        metrics.JOBS_RETRIED.inc()
    heart = asyncio.create_task(_beat(db, investigation, lease / 3))
    loop = asyncio.get_running_loop()
    give_up = loop.time() + lease
    found: dict[str, list[Finding]] = {}
    try:
        await announce(investigation, "started", attempt=row["attempts"])
        while True:
            try:
                return await _run(db, row, concurrency, write, announce, chunk_size, found)
            except ServiceUnavailable as exc:
                if loop.time() + pause > give_up:
                    log.warning("investigation %s: no database for the lease (%s); left for "
                                "another worker", investigation, exc)  # fmt: skip
                    return "interrupted"
                log.warning("investigation %s: lost the database (%s); going on in %s s",
                            investigation, exc, pause)  # fmt: skip
                await asyncio.sleep(pause)
    finally:
        heart.cancel()


async def _beat(db: Database, investigation: uuid.UUID, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await store.beat(db, investigation)
        except Exception as exc:  # the next beat may get through; the lease outlasts three
            log.warning("investigation %s: could not renew its lease (%s)", investigation, exc)


async def _run(
    db: Database,
    row: Record,
    concurrency: int,
    write: Callable[[list[Finding]], Awaitable[str]] | None,
    announce: Announce,
    chunk_size: int,
    done: dict[str, list[Finding]],
) -> str:
    """The investigation from where `done` (agent: its findings, reported) leaves it."""
    investigation: uuid.UUID = row["id"]
    attempt: int = row["attempts"]  # our claim: a write finds it still ours, or does nothing
    if attempt > MAX_ATTEMPTS:
        reason = f"gave up after {MAX_ATTEMPTS} attempts (workers died)"
        metrics.JOBS_FAILED.inc()
        await store.fail(db, investigation, reason, attempt)
        await announce(investigation, "finished", status="failed", error=reason)
        return "failed"
    target = store.target_from_json(row["target"])
    parts = await chunks(db, target, chunk_size)
    agents: list[Agent] = [AGENTS_BY_NAME[name] for name in row["agents"]] or list(AGENTS)
    limit = asyncio.Semaphore(concurrency)
    reporting = asyncio.Lock()

    async def one(agent: Agent) -> list[Finding]:
        if agent.name in done:  # before the database went away
            return done[agent.name]
        found = []
        for part in parts:  # chunks one after another; agents side by side
            async with limit:
                found += await agent.run(db, part)
        async with reporting:  # one at a time, so progress only ever goes up
            fraction = (len(done) + 1) / len(agents)
            if not await store.progress(db, investigation, fraction, agent.name, attempt):
                raise InvestigationCancelled
            done[agent.name] = found
            # The stream says how many it carries, so a client following along knows when
            # to read the rest from `findings` (a connection over PostgreSQL, which has all).
            await announce(investigation, "progress", progress=fraction, agent=agent.name,
                           findings=len(found), announced=min(len(found), FINDINGS_ANNOUNCED))  # fmt: skip
            for finding in found[:FINDINGS_ANNOUNCED]:
                await announce(investigation, "finding", kind=finding.kind, severity=finding.severity,
                               score=finding.score, summary=finding.summary)  # fmt: skip
        return found

    try:
        # A TaskGroup: one agent failing cancels the others (gather left them running).
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(a)) for a in agents]
    except ExceptionGroup as failed:
        if failed.subgroup(InvestigationCancelled) is not None:
            return "cancelled"
        lost = failed.subgroup(ServiceUnavailable)
        if lost is not None:  # the database, not the investigation: run() goes on once back
            raise lost.exceptions[0] from None
        exc = failed.exceptions[0]
        log.error("investigation %s failed", investigation, exc_info=exc)
        reason = f"{type(exc).__name__}: {exc}"
        metrics.JOBS_FAILED.inc()
        await store.fail(db, investigation, reason, attempt)
        await announce(investigation, "finished", status="failed", error=reason)
        return "failed"
    findings = reduce_findings([f for task in tasks for f in task.result()])
    report = await (write or _summary)(findings)
    if await store.complete(db, investigation, findings, report, attempt):
        await announce(investigation, "finished", status="completed", findings=len(findings))
        return "completed"
    return "cancelled"


async def _summary(findings: list[Finding]) -> str:
    return summarize(findings)
