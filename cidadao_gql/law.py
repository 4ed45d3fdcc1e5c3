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
from functools import lru_cache

from cidadao_gql.objects import ObjectKind, classify_object


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

# Art. 125: amendments may add up to 25 % of the initial value to works, services and
# purchases, and up to 50 % to the renovation (reforma) of a building or of equipment.
AMENDMENT_CEILING = Decimal("1.25")
RENOVATION_AMENDMENT_CEILING = Decimal("1.50")

# Art. 75 I covers engineering works and services and vehicle maintenance; art. 75 II the
# other services and purchases.
ART_75_I = frozenset({ObjectKind.WORKS, ObjectKind.RENOVATION, ObjectKind.VEHICLE_MAINTENANCE})
_ART_75 = re.compile(r"\bart(?:igo|\.)?\s*75\W+(?:inciso\s+)?(II|I)\b", re.IGNORECASE)


def direct_purchase_limits(on: date) -> DirectPurchaseLimits:
    """The limits in force on `on`; dates before the law take the law's first values."""
    starts = [limits.in_force_from for limits in DIRECT_PURCHASE_LIMITS]
    return DIRECT_PURCHASE_LIMITS[max(bisect_right(starts, on) - 1, 0)]


@lru_cache(maxsize=65_536)  # a few thousand distinct texts; agents ask once per contract
def object_kind(
    object_text: str, material_or_service: str | None = None, legal_basis: str | None = None
) -> ObjectKind:
    """The kind of a contracted object, from structured fields first: the legal basis the
    agency declared (art. 75 I or II) and PNCP's material-or-service flag of its items
    ("M" is a purchase whatever the text says). The object's wording decides only what
    they leave open (which art. 75 I kind, or whether a service is engineering)."""
    declared = _ART_75.search(legal_basis or "")
    if material_or_service == "M" and not (declared and declared[1] == "I"):
        return ObjectKind.PURCHASE
    worded = classify_object(object_text)
    if declared:
        if declared[1] == "I":
            return worded if worded in ART_75_I else ObjectKind.WORKS
        return worded if worded not in ART_75_I else ObjectKind.OTHER
    if material_or_service == "S" and worded is ObjectKind.PURCHASE:
        return ObjectKind.OTHER
    return worded


def direct_purchase_limit(
    on: date,
    object_text: str,
    material_or_service: str | None = None,
    legal_basis: str | None = None,
) -> Decimal:
    """The art. 75 limit for a purchase of this kind on this day."""
    limits = direct_purchase_limits(on)
    if object_kind(object_text, material_or_service, legal_basis) in ART_75_I:
        return limits.works_and_vehicle_maintenance
    return limits.other_services_and_purchases


def amendment_ceiling(kind: ObjectKind) -> Decimal:
    """Art. 125: final value / initial value allowed for a contract of this kind."""
    return RENOVATION_AMENDMENT_CEILING if kind is ObjectKind.RENOVATION else AMENDMENT_CEILING
