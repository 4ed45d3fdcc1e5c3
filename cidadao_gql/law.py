"""Dated legal thresholds. They change by decree, so they are data with a start date.

Lei 14.133/2021 art. 75 allows direct purchase (dispensa) below these values; art. 182
has them updated every 1 January by decree. Decreto 12.807/2025 delegates the next updates
to the Ministry of Management (MGI): look for its act each January and add a row.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class DirectPurchaseLimits:
    in_force_from: date
    works_and_vehicle_maintenance: Decimal  # art. 75 I
    other_services_and_purchases: Decimal  # art. 75 II
    source: str


DIRECT_PURCHASE_LIMITS = (
    DirectPurchaseLimits(date(2021, 4, 1), Decimal("100000.00"), Decimal("50000.00"), "Lei 14.133/2021"),
    DirectPurchaseLimits(date(2022, 1, 1), Decimal("108040.82"), Decimal("54020.41"), "Decreto 10.922/2021"),
    DirectPurchaseLimits(date(2023, 1, 1), Decimal("114416.65"), Decimal("57208.33"), "Decreto 11.317/2022"),
    DirectPurchaseLimits(date(2024, 1, 1), Decimal("119812.02"), Decimal("59906.02"), "Decreto 11.871/2023"),
    DirectPurchaseLimits(date(2025, 1, 1), Decimal("125451.15"), Decimal("62725.59"), "Decreto 12.343/2024"),
    DirectPurchaseLimits(date(2026, 1, 1), Decimal("130984.20"), Decimal("65492.11"), "Decreto 12.807/2025"),
)  # fmt: skip

# Contract values above initial * AMENDMENT_CEILING break art. 125 (25 % for purchases and
# services; 50 % applies only to renovation of buildings, which we do not single out).
AMENDMENT_CEILING = Decimal("1.25")


def direct_purchase_limits(on: date) -> DirectPurchaseLimits:
    """The limits in force on `on`; dates before the law take the law's first values."""
    starts = [limits.in_force_from for limits in DIRECT_PURCHASE_LIMITS]
    return DIRECT_PURCHASE_LIMITS[max(bisect_right(starts, on) - 1, 0)]


# Art. 75 I covers engineering works and services and vehicle maintenance; everything else
# falls under art. 75 II. Object texts are free text, so this is a reading of their words.
WORKS_OR_VEHICLES = re.compile(
    r"\b(obras?|engenharia|pavimenta\w*|reforma|constru\w+|manuten\w+ de ve[ií]culos?)\b",
    re.IGNORECASE,
)


def direct_purchase_limit(on: date, object_text: str) -> Decimal:
    """The art. 75 limit for a purchase of this kind on this day."""
    limits = direct_purchase_limits(on)
    if WORKS_OR_VEHICLES.search(object_text):
        return limits.works_and_vehicle_maintenance
    return limits.other_services_and_purchases
