"""Direct-purchase limits by date, as the decrees set them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cidadao_gql.law import (
    amendment_ceiling,
    direct_purchase_limit,
    direct_purchase_limits,
    object_kind,
)


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


FOOD = "Aquisição de gêneros alimentícios: carnes e frios para a Secretaria de Obras"


@pytest.mark.parametrize(
    ("object_text", "material_or_service", "legal_basis", "limit"),
    [
        (FOOD, None, None, "59906.02"),  # the Secretaria de Obras does not make food works
        ("Aquisição de material de construção", None, None, "59906.02"),
        ("Obras de pavimentação", None, None, "119812.02"),
        ("Manutenção de veículos da frota", None, None, "119812.02"),
        ("Serviços de manutenção predial", None, None, "119812.02"),
        ("Serviços de limpeza", None, None, "59906.02"),
        # Structured fields first: the declared basis, then the material flag.
        ("Serviços de engenharia elétrica", None, "Lei 14.133/2021, Art. 75, II", "59906.02"),
        ("Serviços de eletricidade", "S", "Lei 14.133/2021, Art. 75, I", "119812.02"),
        ("Pavimentação asfáltica - fornecimento de CBUQ", "M", None, "59906.02"),
        ("Obras de pavimentação", None, "Lei 14.133/2021, Art. 75, III", "119812.02"),
    ],
)
def test_the_limit_follows_the_kind_of_object(
    object_text: str, material_or_service: str | None, legal_basis: str | None, limit: str
) -> None:
    on = date(2024, 5, 1)
    assert direct_purchase_limit(on, object_text, material_or_service, legal_basis) == Decimal(
        limit
    )


@pytest.mark.parametrize(
    ("object_text", "ceiling"),
    [
        ("Reforma do prédio da Escola Municipal", "1.50"),
        ("Reforma de equipamentos hospitalares", "1.50"),
        ("Obras de pavimentação", "1.25"),
        ("Aquisição de material para a reforma da escola", "1.25"),
    ],
)
def test_art_125_allows_half_for_renovations(object_text: str, ceiling: str) -> None:
    assert amendment_ceiling(object_kind(object_text)) == Decimal(ceiling)
