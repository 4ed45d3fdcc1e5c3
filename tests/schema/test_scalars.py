"""What scalars look like on the way out (issue 17): money with at least two decimals,
DateTimes with their UTC offset, the same on the compiled and the ordinary path (`run`
compares them byte for byte)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from cidadao_gql.data.db import Database
from cidadao_gql.schema.relay import encode_id
from tests.conftest import Run

BRASILIA = timezone(timedelta(hours=-3))


async def test_a_supplier_without_contracts_totals_zero_with_two_decimals(
    run: Run, db: Database
) -> None:
    idle = await db.fetchval(
        """SELECT id FROM suppliers s
            WHERE NOT EXISTS (SELECT 1 FROM contracts c WHERE c.supplier_id = s.id)
            ORDER BY id LIMIT 1"""
    )
    assert idle is not None
    data = await run.data(
        """query($id: ID!) { node(id: $id) { ... on Supplier {
             totals { contractCount totalValue } } } }""",
        id=encode_id("Supplier", idle),
    )
    assert data["node"]["totals"] == {"contractCount": 0, "totalValue": "0.00"}


async def test_amounts_keep_the_decimals_their_columns_hold(run: Run, db: Database) -> None:
    row = await db.fetchrow(
        "SELECT id, final_value FROM contracts ORDER BY final_value, id LIMIT 1"
    )
    assert row is not None
    data = await run.data(
        "query($id: ID!) { node(id: $id) { ... on Contract { finalValue } } }",
        id=encode_id("Contract", row["id"]),
    )
    value = data["node"]["finalValue"]
    assert Decimal(value) == row["final_value"]
    assert value.partition(".")[2].isdigit() and len(value.partition(".")[2]) == 2


async def test_datetimes_carry_their_utc_offset(run: Run, db: Database) -> None:
    """PNCP's times (a `timestamp` column) are Brasília's: -03:00, the same instant."""
    row = await db.fetchrow("SELECT id, published_at FROM procurements ORDER BY id LIMIT 1")
    assert row is not None
    data = await run.data(
        "query($id: ID!) { node(id: $id) { ... on Procurement { publishedAt } } }",
        id=encode_id("Procurement", row["id"]),
    )
    published = data["node"]["publishedAt"]
    assert published.endswith("-03:00")
    assert datetime.fromisoformat(published) == row["published_at"].replace(tzinfo=BRASILIA)
