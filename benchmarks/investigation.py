"""Time one investigation, all eight agents, over about 10,000 contracts of a 1,000,000-
contract database (the reference promises an agent response under 2 s).

    .venv/bin/python benchmarks/investigation.py [--contracts-in-target N]

Uses BENCH_DATABASE_URL (seeded as benchmarks/harness.py seeds it). Reports the wall time of the
whole investigation and, separately, of each agent run alone.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from harness import database_url, seed

from cidadao_gql.agents import AGENTS, Target
from cidadao_gql.data.db import open_database
from cidadao_gql.investigations import runner, store
from cidadao_gql.settings import Settings


async def measure(wanted: int) -> None:
    async with open_database(Settings(database_url=database_url())) as db:
        rows = await db.fetch(
            "SELECT agency_id, count(*) AS n FROM contracts GROUP BY 1 ORDER BY 2 DESC"
        )
        agencies, total = [], 0
        for r in rows:  # the largest agencies that still fit
            if total + r["n"] <= wanted:
                agencies.append(r["agency_id"])
                total += r["n"]
        target = Target(agency_ids=tuple(agencies))
        print(f"target: {len(agencies)} agencies, {total:,} contracts")
        for agent in AGENTS:
            started = time.perf_counter()
            found = await agent.run(db, target)
            print(
                f"  {agent.name:20} {time.perf_counter() - started:6.3f} s  {len(found):5} findings"
            )
        investigation = await store.create(db, "bench", target, [])
        started = time.perf_counter()
        status = await runner.run(db, investigation["id"], concurrency=4)
        elapsed = time.perf_counter() - started
        count = await db.fetchval(
            "SELECT count(*) FROM findings WHERE investigation_id = $1", investigation["id"]
        )
        print(
            f"investigation: {status} in {elapsed:.3f} s with {count} findings (agents 4 at a time)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--contracts-in-target", type=int, default=10_000)
    args = parser.parse_args()
    seed(args.contracts)
    asyncio.run(measure(args.contracts_in_target))


if __name__ == "__main__":
    main()
