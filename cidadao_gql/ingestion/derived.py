"""Data derived from what is loaded: refreshed by every writer once it has loaded, and by
its readers when a write went around the writers (the mark in `derived_state`, raised by
triggers on awards and items, says so)."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cidadao_gql.data.db import Connection, Database

_CLEAR = "UPDATE derived_state SET stale = false WHERE name = 'price_references' AND stale"
# Kept under the prices' mark: the price-outlier agent's references, and the unit-price
# summary the API serves (its view `unit_prices` computes it instead while the mark is up).
VIEWS = ("price_references", "unit_price_summary")
# Under their own mark (raised by writes to contracts and agencies): spending's cells, the
# cells per year and their rollups per grouping (computed from the cells, so refreshed
# after them), which spending does not read while it is up (data/aggregates.py).
CELLS = "spending_cells"
CELL_VIEWS = (CELLS, "spending_year_cells", "spending_rollups")


async def refresh_derived(conn: asyncpg.Connection | PoolConnectionProxy[Any]) -> None:
    """The market price references the price-outlier agent compares awards with, the
    unit-price summary, spending's cells and their rollups. Each mark is cleared before
    the refresh reads anything: a write that commits meanwhile raises it again (after
    waiting for this transaction), so no write is ever taken as included."""
    await conn.execute(_CLEAR)
    for view in VIEWS:
        await conn.execute(f"REFRESH MATERIALIZED VIEW {view}")
    # One transaction (a savepoint within the importer's): no reader sees the mark down
    # before both are refreshed, nor the cells refreshed beside their old rollups.
    async with conn.transaction():
        await conn.execute(
            f"UPDATE derived_state SET stale = false WHERE name = '{CELLS}' AND stale"
        )
        for view in CELL_VIEWS:
            await conn.execute(f"REFRESH MATERIALIZED VIEW {view}")


async def ensure_current(db: Database) -> bool:
    """Refresh the price references and the summary if a write has marked them stale;
    whether it did. Two readers finding them stale refresh once: the second waits on the mark's row lock
    and then finds it cleared."""
    if not await db.fetchval_primary(
        "SELECT stale FROM derived_state WHERE name = 'price_references'"
    ):
        return False

    async def refresh(conn: Connection) -> bool:
        if await conn.fetchval(f"{_CLEAR} RETURNING true") is None:
            return False
        for view in VIEWS:
            await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")
        return True

    refreshed: bool = await db.write(refresh)
    return refreshed
