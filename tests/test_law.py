"""Direct-purchase limits by date, as the decrees set them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cidadao_gql.law import direct_purchase_limits


@pytest.mark.parametrize(
    ("on", "works", "other", "source"),
    [
        (date(2021, 4, 1), "100000.00", "50000.00", "Lei 14.133/2021"),
        (date(2021, 12, 31), "100000.00", "50000.00", "Lei 14.133/2021"),
        (date(2022, 1, 1), "108040.82", "54020.41", "Decreto 10.922/2021"),
        (date(2023, 6, 30), "114416.65", "57208.33", "Decreto 11.317/2022"),
        (date(2024, 12, 31), "119812.02", "59906.02", "Decreto 11.871/2023"),
        (date(2025, 1, 1), "125451.15", "62725.59", "Decreto 12.343/2024"),
        (date(2026, 11, 29), "130984.20", "65492.11", "Decreto 12.807/2025"),
        (date(2019, 1, 1), "100000.00", "50000.00", "Lei 14.133/2021"),
    ],
)
def test_limits_in_force_on_a_day(on: date, works: str, other: str, source: str) -> None:
    limits = direct_purchase_limits(on)
    assert limits.works_and_vehicle_maintenance == Decimal(works)
    assert limits.other_services_and_purchases == Decimal(other)
    assert limits.source == source
