"""Loading a synthetic data set: COPY in one transaction, secondary indexes rebuilt around
it, sequences moved past the new ids."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from cidadao_gql.ingestion.dataset import Dataset
from cidadao_gql.ingestion.derived import refresh_derived

LOAD_ORDER = ("agencies", "suppliers", "procurements", "items", "awards", "contracts", "sanctions")
_CHUNK = 50_000


async def current_ids(conn: asyncpg.Connection) -> dict[str, int]:
    """The highest id of each table, so generated ids follow what is already there."""
    row = await conn.fetchrow(
        "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t}) AS {t}" for t in LOAD_ORDER)
    )
    assert row is not None
    return dict(row)


async def load_dataset(
    conn: asyncpg.Connection, dataset: Dataset, progress: Callable[[int], object]
) -> None:
    """COPY the data set in, in one transaction. Secondary indexes are dropped and rebuilt
    around the load (from their own definitions), which is several times faster than
    maintaining them row by row."""
    async with conn.transaction():
        await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        indexes = await conn.fetch(
            """SELECT indexname, indexdef FROM pg_indexes i
                WHERE schemaname = current_schema() AND tablename = any($1::text[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            list(LOAD_ORDER),
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        for name in LOAD_ORDER:
            table = dataset.tables[name]
            for start in range(0, len(table), _CHUNK):
                stop = min(start + _CHUNK, len(table))
                await conn.copy_records_to_table(
                    name, records=table.records(start, stop), columns=table.columns
                )
                progress(stop - start)
        await conn.copy_records_to_table(
            "planted_anomalies",
            records=((k, e, i, d) for k, e, i, d in dataset.planted),
            columns=["kind", "entity", "entity_id", "details"],
        )
        for index in indexes:
            await conn.execute(index["indexdef"])
            progress(0)
        for name in (*LOAD_ORDER, "planted_anomalies"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
            )
    # VACUUM as well as ANALYZE: rows just COPYed are not marked all-visible until a vacuum
    # sets the visibility map, and until then every index-only scan reads the heap too (a
    # count of one agency's 10,000 contracts: 3,176 heap pages and 40 ms, 57 pages and 4 ms
    # once vacuumed; a parent's page of keys from its index alone, data/sql.py
    # fetch_child_pages, likewise). Autovacuum may be off, or late.
    for name in LOAD_ORDER:
        await conn.execute(f"VACUUM (ANALYZE) {name}")
    await refresh_derived(conn)


def row_count(dataset: Dataset) -> int:
    return sum(len(t) for t in dataset.tables.values())
