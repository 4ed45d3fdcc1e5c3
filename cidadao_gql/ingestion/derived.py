"""Data derived from what is loaded, refreshed by every writer once it has loaded."""

from __future__ import annotations

import asyncpg


async def refresh_derived(conn: asyncpg.Connection) -> None:
    """The market price references the price-outlier agent compares awards with."""
    await conn.execute("REFRESH MATERIALIZED VIEW price_references")
