"""How many children a parent holds, from a database: the figures behind the cost model's
assumed list sizes (cidadao_gql/schema/cost_tables.py, LIST_SIZES) and behind the dashboard
queries' page sizes (tests/dashboards.py). Read-only: one aggregate statement per relation.

    .venv/bin/python benchmarks/list_sizes.py [DATABASE_URL]

DATABASE_URL defaults to $DATABASE_URL. Prints, per relation, the parents counted, the
median, 90th, 99th and 99.9th percentiles and the maximum of children per parent (over
parents with at least one child: a list the API shows empty costs nothing), and the size
LIST_SIZES would take by its rule (the 99th percentile, at least ASSUMED_FLOOR). Rerun it
after loading other data (a real CEIS/CNEP register, a larger synthetic set) and update
LIST_SIZES and the README if the sizes moved.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from cidadao_gql.schema.cost_tables import ASSUMED_FLOOR, LIST_SIZES

# relation: (the list field it prices or informs, the children grouped by their parent key)
RELATIONS = {
    "sanctions per sanctioned supplier": (
        "Supplier.sanctions",
        "SELECT count(*) AS n FROM sanctions GROUP BY supplier_document",
    ),
    "items per procurement": (
        "Procurement.items",
        "SELECT count(*) AS n FROM items GROUP BY procurement_id",
    ),
    "awards per item": ("Item.awards", "SELECT count(*) AS n FROM awards GROUP BY item_id"),
    "contracts per agency": (
        "Agency.contracts",
        "SELECT count(*) AS n FROM contracts GROUP BY agency_id",
    ),
    "contracts per supplier": (
        "Supplier.contracts",
        "SELECT count(*) AS n FROM contracts GROUP BY supplier_id",
    ),
    "contracts per procurement": (
        "Procurement.contracts",
        "SELECT count(*) AS n FROM contracts WHERE procurement_id IS NOT NULL"
        " GROUP BY procurement_id",
    ),
}
PERCENTILES = (0.5, 0.9, 0.99, 0.999)


def assumed_size(p99: int) -> int:
    """LIST_SIZES' rule for a list without a size argument."""
    return max(p99, ASSUMED_FLOOR)


async def measure(url: str) -> list[tuple[str, str, int, list[int], int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = []
        for name, (field, grouped) in RELATIONS.items():
            found = await conn.fetchrow(
                f"SELECT count(*) AS parents, max(n) AS most,"
                f" percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY n) AS cuts"
                f" FROM ({grouped}) per_parent",
                list(PERCENTILES),
            )
            assert found is not None
            rows.append((name, field, found["parents"], found["cuts"] or [], found["most"] or 0))
        return rows
    finally:
        await conn.close()


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("usage: list_sizes.py DATABASE_URL (or set $DATABASE_URL)")
    print("| relation | field | parents | p50 | p90 | p99 | p99.9 | max | rule | LIST_SIZES |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, field, parents, cuts, most in asyncio.run(measure(url)):
        p50, p90, p99, p999 = cuts or [0, 0, 0, 0]
        rule = assumed_size(p99) if field in LIST_SIZES else "–"
        now = LIST_SIZES.get(field, "–")
        print(
            f"| {name} | `{field}` | {parents:,} | {p50} | {p90} | {p99} | {p999} | {most:,}"
            f" | {rule} | {now} |"
        )


if __name__ == "__main__":
    main()
