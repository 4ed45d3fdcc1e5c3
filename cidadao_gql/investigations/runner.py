"""Running one investigation: every chosen agent over the target at once (scatter-gather,
at most `concurrency` at a time), progress recorded after each, findings stored with the
finish in one transaction, and a written summary."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter

from cidadao_gql.agents import AGENTS, Agent, Finding
from cidadao_gql.db import Database
from cidadao_gql.investigations import store

log = logging.getLogger("cidadao_gql.investigations")
AGENTS_BY_NAME = {agent.name: agent for agent in AGENTS}
MAX_ATTEMPTS = 3


class _Cancelled(Exception):
    pass


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


async def run(db: Database, investigation: uuid.UUID, concurrency: int = 4) -> str:
    """Run an investigation to its end; returns the status it ended in (or `skipped` when it
    had already finished, as a redelivered job may find it)."""
    row = await store.start(db, investigation)
    if row is None:
        return "skipped"
    if row["attempts"] > MAX_ATTEMPTS:
        await store.fail(db, investigation, f"gave up after {MAX_ATTEMPTS} attempts (workers died)")
        return "failed"
    target = store.target_from_json(row["target"])
    agents: list[Agent] = [AGENTS_BY_NAME[name] for name in row["agents"]] or list(AGENTS)
    limit = asyncio.Semaphore(concurrency)
    done = 0

    async def one(agent: Agent) -> list[Finding]:
        nonlocal done
        async with limit:
            found = await agent.run(db, target)
        done += 1
        if not await store.progress(db, investigation, done / len(agents), agent.name):
            raise _Cancelled
        return found

    try:
        results = await asyncio.gather(*(one(a) for a in agents))
    except _Cancelled:
        return "cancelled"
    except Exception as exc:
        log.exception("investigation %s failed", investigation)
        await store.fail(db, investigation, f"{type(exc).__name__}: {exc}")
        return "failed"
    findings = [f for found in results for f in found]
    if await store.complete(db, investigation, findings, summarize(findings)):
        return "completed"
    return "cancelled"
