"""Some cases of tests/filter_plans.py, by name: rows read for rows returned and the
statements sent (issue 23's shapes, one at a time, while changing a plan).

    DATABASE_URL=... .venv/bin/python benchmarks/filter_cases.py PATTERN... [--sql]

A case is measured when its name (tests/filter_plans.Case.name) contains every PATTERN.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cidadao_gql.data.db import open_database
from cidadao_gql.settings import Settings
from tests.filter_plans import Recording, cases, measure


async def main(patterns: list[str], show: bool) -> None:
    settings = Settings.from_env({**os.environ, "DB_STATEMENT_TIMEOUT_MS": "0"})
    async with open_database(settings) as db:
        for case in await cases(db, spending=False):
            if not all(p in case.name for p in patterns):
                continue
            measured = await measure(db, case)
            print(f"{measured.read:>8} read {measured.returned:>5} returned"
                  f" {measured.ms:8.2f} ms  {case.name}")  # fmt: skip
            if show:
                recording = Recording(db)
                await case.run(recording)
                for sql, args in recording.sent:
                    print("   ", " ".join(sql.split()), args)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--sql"]
    asyncio.run(main(arguments, "--sql" in sys.argv))
