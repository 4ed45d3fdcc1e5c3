"""Object texts: one comparison key, and the kind of object their head names."""

from __future__ import annotations

import pytest

from cidadao_gql.objects import ObjectKind, classify_object, normalise_object


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Aquisição de material de limpeza.", "aquisicao de material de limpeza"),
        ("AQUISIÇÃO DE MATERIAL DE LIMPEZA -", "aquisicao de material de limpeza"),
        ("Aquisição  de material de limpeza:", "aquisicao de material de limpeza"),
        ("Aquisição de luvas descartáveis", "aquisicao de luva descartavel"),
        ("Aquisição de luva descartável", "aquisicao de luva descartavel"),
        ("Lote 2 - 500 itens, 3 bens", "lote item bem"),
        ("Licitações de materiais e papéis", "licitacao de material e papel"),
        ("Computadores e impressoras", "computador e impressora"),
        ("Ônibus escolar", "onibu escolar"),
        ("Ônibus escolares", "onibu escolar"),
    ],
)
def test_one_key_for_what_varies_in_typing(text: str, key: str) -> None:
    assert normalise_object(text) == key


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "Aquisição de gêneros alimentícios: carnes e frios para a Secretaria de Obras",
            ObjectKind.PURCHASE,
        ),
        ("Aquisição de material de construção", ObjectKind.PURCHASE),
        ("Material de construção para a reforma da escola", ObjectKind.PURCHASE),
        ("Obras de pavimentação: vias urbanas", ObjectKind.WORKS),
        (
            "Contratação de empresa para execução de obra de construção de creche",
            ObjectKind.WORKS,
        ),
        ("CONTRATAÇÃO DE EMPRESA ESPECIALIZADA EM SERVIÇOS DE ENGENHARIA", ObjectKind.WORKS),
        ("Prestação de serviços de manutenção predial", ObjectKind.WORKS),
        (
            "Contratação de empresa especializada para prestação de serviços de manutenção"
            " preventiva e corretiva de veículos da frota",
            ObjectKind.VEHICLE_MAINTENANCE,
        ),
        ("Manutenção de veículos: ambulâncias", ObjectKind.VEHICLE_MAINTENANCE),
        ("Aquisição de peças para manutenção de veículos", ObjectKind.PURCHASE),
        ("Reforma do prédio da Escola Municipal", ObjectKind.RENOVATION),
        ("Reforma de equipamentos hospitalares", ObjectKind.RENOVATION),
        ("Contratação de serviços de limpeza: prédios públicos", ObjectKind.OTHER),
        ("Serviços de vigilância para a Secretaria de Obras", ObjectKind.OTHER),
        ("Locação de equipamentos", ObjectKind.OTHER),
    ],
)
def test_the_head_names_the_kind(text: str, kind: ObjectKind) -> None:
    assert classify_object(text) is kind
