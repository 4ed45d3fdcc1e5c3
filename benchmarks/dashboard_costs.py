"""Points against work: the dashboard pages of tests/dashboards.py and the shapes the cost
limit refuses (tests/schema/test_dashboards.py), run in process on a database, each with
its requested points, the objects its answer holds, the SQL statements it sent and its
median time. The evidence behind the weights of cidadao_gql/schema/cost_tables.py: points
should grow with the work, and what is refused should cost far more work than what fits.

    .venv/bin/python benchmarks/dashboard_costs.py DATABASE_URL [--runs 3] [--refused]

Read-only. The limit is lifted for the run (MAX_QUERY_COST) so refused shapes can be timed
(with --refused; each stops at QUERY_TIMEOUT_MS, 10 s by default); no Redis, no cache.
The contract search takes `"óleo diesel"` instead of the seeded test's most common word
(found by a scan of every contract's text: minutes on 1,000,000).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import open_database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from tests.dashboards import DASHBOARDS, Pick
from tests.schema.test_dashboards import HURTFUL, objects

OVERRIDES: dict[str, dict[str, Any]] = {"contract search": {"words": '"óleo diesel"'}}
READER = User(id="benchmark", scopes=frozenset({"read"}))


async def measure(url: str, runs: int, refused: bool) -> None:
    settings = replace(
        Settings.from_env({}), database_url=url, max_query_cost=10**9, rate_limit_capacity=0
    )
    schema = build_schema(settings)
    shapes: list[tuple[str, str, Pick | None]] = [
        (d.name, d.query, d.pick) for d in DASHBOARDS if d.name != "investigation findings"
    ]
    if refused:
        shapes += [(f"refused: {name}", query, None) for name, query in HURTFUL.items()]
    print("| query | points | objects | statements | median ms |")
    print("|---|---:|---:|---:|---:|")
    async with open_database(settings) as db:
        for name, query, pick in shapes:
            variables = OVERRIDES.get(name) or ({} if pick is None else await pick(db))
            times: list[float] = []
            result: Any = None
            statements = 0
            for _ in range(runs):
                context = Context(db, settings, Loaders(db), READER, str(uuid.uuid4()))
                before = await db.round_trips.settled()
                started = time.perf_counter()
                result = await schema.execute(
                    query, variable_values=variables, context_value=context
                )
                times.append((time.perf_counter() - started) * 1000)
                statements = await db.round_trips.settled() - before
            assert result is not None
            cost = result.extensions["cost"]["requestedQueryCost"]
            held = f"{objects(result.data):,}" if result.data else "error"
            median = statistics.median(times)
            print(f"| {name} | {cost:,} | {held} | {statements} | {median:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--refused", action="store_true", help="time the refused shapes too")
    args = parser.parse_args()
    asyncio.run(measure(args.database_url, args.runs, args.refused))


if __name__ == "__main__":
    main()
