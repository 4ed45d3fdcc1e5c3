"""Spending pages, root items and awards, and the unit-price summary (issue 17): what each
statement reads, by EXPLAIN (ANALYZE, BUFFERS) of the statements the API sends.

    .venv/bin/python benchmarks/aggregates.py [--url postgresql://…/cgql_bench] [--save]

Read-only: it sends the data layer's own statements (and, where the database has no
migration 0013, the unit-price summary's definition as a plain SELECT). Prints a markdown
table: rows returned, rows read by the scan nodes, shared buffers, and milliseconds;
`--save` writes it to benchmarks/results/aggregates.md (and .json) for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from harness import ROOT
from record import save

sys.path.insert(0, str(ROOT))  # tests.filter_plans: Recording and rows_read, shared

from cidadao_gql.data import aggregates, sql
from cidadao_gql.data.db import Database, open_database
from cidadao_gql.data.filters import AwardWhere, ContractWhere, ItemWhere, UnitPriceWhere
from cidadao_gql.data.sql import Entity, PageRequest
from cidadao_gql.data.statement import Filters
from cidadao_gql.settings import Settings
from tests.filter_plans import Recording, rows_read

Run = Callable[[Database], Awaitable[int]]
SUMMARY = (ROOT / "cidadao_gql/migrations/0013_aggregates_and_prices.sql").read_text()


def spending(group: str, filters: Filters, page: aggregates.GroupPage) -> Run:
    async def run(db: Database) -> int:
        return len(await aggregates.fetch_spending(db, group, filters, page))

    return run


def groups(group: str, filters: Filters) -> Run:
    async def run(db: Database) -> int:
        return await aggregates.count_spending_groups(db, group, filters)

    return run


def page(entity: Entity, filters: Filters, first: int = 20) -> Run:
    async def run(db: Database) -> int:
        request = PageRequest(first, entity.ordering("ID_ASC"))
        return len(await sql.fetch_page(db, entity, filters, request))

    return run


def summary_computed() -> Run:
    """Every group of the summary computed, as a refresh (or a stale mark) computes it."""
    body = SUMMARY.split("CREATE VIEW unit_price_groups AS", 1)[1].split(";", 1)[0]

    async def run(db: Database) -> int:
        return len(await db.fetch(body))

    return run


async def cases(db: Database) -> list[tuple[str, Run]]:
    agency = await db.fetchval(
        "SELECT agency_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    buyer = await db.fetchval(
        "SELECT agency_id FROM procurements GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    supplier = await db.fetchval(
        "SELECT supplier_id FROM awards GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    middle = await db.fetchval(
        "SELECT id FROM agencies ORDER BY id OFFSET (SELECT count(*) / 2 FROM agencies) LIMIT 1"
    )
    busiest = await db.fetchrow(
        "SELECT catalog_code, unit FROM items GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"
    )
    assert busiest is not None
    code, unit = busiest["catalog_code"], busiest["unit"]
    top = aggregates.GroupPage(20, "TOTAL", True)
    latest = aggregates.GroupPage(20, "KEY", True)
    none = ContractWhere()
    found: list[tuple[str, Run]] = [
        ("spending(MONTH) latest 20", spending("MONTH", none, latest)),
        ("spending(MONTH) 20 before 2024-01",
         spending("MONTH", none, aggregates.GroupPage(20, "KEY", True, (None, date(2024, 1, 1))))),
        ("spending(MONTH) one agency", spending("MONTH", ContractWhere(agency_ids=(agency,)), latest)),
        ("spending(YEAR)", spending("YEAR", none, latest)),
        ("spending(AGENCY) largest 20", spending("AGENCY", none, top)),
        ("spending(AGENCY) 20 by key, mid-list",
         spending("AGENCY", none, aggregates.GroupPage(20, "KEY", False, (middle, middle)))),
        ("spending(SUPPLIER) in SP", spending("SUPPLIER", ContractWhere(uf="SP"), top)),
        ("spending(SUPPLIER) totalCount", groups("SUPPLIER", none)),
        ("spending(SPHERE)", spending("SPHERE", none, top)),
        ("spending(UF)", spending("UF", none, top)),
        ("items code+unit", page(sql.ITEMS, ItemWhere(catalog_code=code, unit=unit))),
        ("items code", page(sql.ITEMS, ItemWhere(catalog_code=code))),
        ("items largest agency", page(sql.ITEMS, ItemWhere(agency_ids=(buyer,)))),
        ("awards code+unit", page(sql.AWARDS, AwardWhere(catalog_code=code, unit=unit))),
        ("awards largest agency", page(sql.AWARDS, AwardWhere(agency_ids=(buyer,)))),
        ("awards largest supplier", page(sql.AWARDS, AwardWhere(supplier_ids=(supplier,)))),
        ("awards one day", page(sql.AWARDS, AwardWhere(awarded_from=date(2024, 5, 2),
                                                        awarded_to=date(2024, 5, 2)))),
        ("unit-price summary computed", summary_computed()),
    ]  # fmt: skip
    if await db.fetchval("SELECT to_regclass('unit_prices') IS NOT NULL"):
        found += [
            ("unitPrices first 20", page(sql.UNIT_PRICES, UnitPriceWhere())),
            ("unitPrices code+unit", page(sql.UNIT_PRICES, UnitPriceWhere(code, unit))),
            ("unitPrices unit", page(sql.UNIT_PRICES, UnitPriceWhere(unit=unit))),
        ]
    return found


async def measure(db: Database, run: Run) -> dict[str, Any]:
    recording = Recording(db)
    returned = await run(recording)
    read = buffers = 0
    ms = 0.0
    for text, args in recording.sent:
        if text.startswith("EXPLAIN"):  # a page's row estimate: planning only
            continue
        raw = await db.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {text}", *args)
        plan = json.loads(raw)[0]
        read += rows_read(plan["Plan"])
        buffers += plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get(
            "Shared Read Blocks", 0
        )
        ms += plan["Planning Time"] + plan["Execution Time"]
    return {"returned": returned, "read": read, "buffers": buffers, "ms": ms}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://root@127.0.0.1:5432/cgql_bench")
    parser.add_argument("--save", action="store_true", help="commit-ready results/aggregates")
    given = parser.parse_args()
    async with open_database(Settings(database_url=given.url)) as db:
        contracts = await db.fetchval("SELECT count(*) FROM contracts")
        migrated = await db.fetchval("SELECT to_regclass('spending_cells') IS NOT NULL")
        lines = [f"{contracts:,} contracts, migration 0013 {'applied' if migrated else 'absent'}.",
                 "", "| statement | returned | rows read | buffers | ms |",
                 "|---|---:|---:|---:|---:|"]  # fmt: skip
        figures = []
        for name, run in await cases(db):
            m = await measure(db, run)
            figures.append({"statement": name, **m})
            lines.append(f"| {name} | {m['returned']:,} | {m['read']:,} | {m['buffers']:,} |"
                         f" {m['ms']:.1f} |")  # fmt: skip
    table = "\n".join(lines)
    if given.save:
        save("aggregates", table, {"contracts": contracts, "statements": figures})
    else:
        print(table)


if __name__ == "__main__":
    asyncio.run(main())
