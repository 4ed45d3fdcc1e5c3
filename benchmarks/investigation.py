"""Time one investigation, all eight agents, over about 10,000 contracts of a 1,000,000-
contract database (the reference promises an agent response under 2 s).

    .venv/bin/python benchmarks/investigation.py [--contracts-in-target N]   # under 1 min

Uses BENCH_DATABASE_URL (seeded as benchmarks/harness.py seeds it). Measures each agent run
alone, then the whole investigation (agents 4 at a time, findings written), in rounds (3),
the median shown; the investigations it creates are deleted again. Writes
benchmarks/results/investigation.md and .json (benchmarks/readme.py puts the table in the
README).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from harness import database_url, seed
from record import save

from cidadao_gql.agents import AGENTS, Target
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.investigations import runner, store
from cidadao_gql.settings import Settings

CONCURRENCY = 4


async def target_of(db: Database, wanted: int) -> tuple[Target, int]:
    """The largest agencies whose contracts together still fit in `wanted`."""
    rows = await db.fetch(
        "SELECT agency_id, count(*) AS n FROM contracts GROUP BY 1 ORDER BY 2 DESC"
    )
    agencies, total = [], 0
    for r in rows:
        if total + r["n"] <= wanted:
            agencies.append(r["agency_id"])
            total += r["n"]
    return Target(agency_ids=tuple(agencies)), total


async def measure(wanted: int, rounds: int) -> dict[str, Any]:
    async with open_database(Settings(database_url=database_url())) as db:
        target, total = await target_of(db, wanted)
        agents: dict[str, list[float]] = {agent.name: [] for agent in AGENTS}
        found: dict[str, int] = {}
        whole: list[float] = []
        findings = 0
        for _ in range(rounds):
            for agent in AGENTS:
                started = time.perf_counter()
                found[agent.name] = len(await agent.run(db, target))
                agents[agent.name].append(time.perf_counter() - started)
            investigation = await store.create(db, "bench", target, [])
            started = time.perf_counter()
            status = await runner.run(db, investigation["id"], concurrency=CONCURRENCY)
            whole.append(time.perf_counter() - started)
            findings = await db.fetchval(
                "SELECT count(*) FROM findings WHERE investigation_id = $1", investigation["id"]
            )
            await db.execute("DELETE FROM investigations WHERE id = $1", investigation["id"])
            if status != "completed":
                raise SystemExit(f"the investigation ended {status}, not completed")
    return {"agencies": len(target.agency_ids), "contracts": total, "agents": agents,
            "findings": found, "investigation": whole, "investigation_findings": findings}  # fmt: skip


def report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    whole = statistics.median(figures["investigation"])
    lines = [
        f"All eight agents over {figures['contracts']:,} contracts ({figures['agencies']} "
        f"agencies) of a {args.contracts:,}-contract database; {args.rounds} rounds, the "
        "median shown.",
        "",
        "| run | seconds (median) | seconds (all rounds) | findings |",
        "|---|---:|---|---:|",
        *(f"| {name} alone | {statistics.median(times):.3f} | "
          f"{', '.join(f'{t:.3f}' for t in times)} | {figures['findings'][name]} |"
          for name, times in figures["agents"].items()),
        f"| the investigation, agents {CONCURRENCY} at a time, findings written | {whole:.3f} | "
        f"{', '.join(f'{t:.3f}' for t in figures['investigation'])} | "
        f"{figures['investigation_findings']} |",
        "",
        f"- the whole investigation: **{whole:.2f} s** (the reference's agent response: < 2 s)",
    ]  # fmt: skip
    save("investigation", "\n".join(lines), {**figures, "options": vars(args)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--contracts-in-target", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seed(args.contracts)
    report(asyncio.run(measure(args.contracts_in_target, args.rounds)), args)


if __name__ == "__main__":
    main()
