"""CNPJ and CPF check digits."""

from __future__ import annotations

import pytest

from cidadao_gql.errors import InvalidTaxId
from cidadao_gql.taxids import (
    complete_cnpj,
    complete_cpf,
    is_valid_cnpj,
    is_valid_cpf,
    parse_document,
)


@pytest.mark.parametrize(
    "cnpj", ["06140404000167", "00656468000139", "11222333000181", "12ABC34501DE35"]
)
def test_valid_cnpjs(cnpj: str) -> None:
    assert is_valid_cnpj(cnpj)


@pytest.mark.parametrize(
    "cnpj", ["06140404000168", "11111111111111", "0614040400016", "12ABC34501DE36", ""]
)
def test_invalid_cnpjs(cnpj: str) -> None:
    assert not is_valid_cnpj(cnpj)


@pytest.mark.parametrize("cpf", ["52998224725", "11144477735"])
def test_valid_cpfs(cpf: str) -> None:
    assert is_valid_cpf(cpf)


@pytest.mark.parametrize("cpf", ["52998224724", "00000000000", "5299822472"])
def test_invalid_cpfs(cpf: str) -> None:
    assert not is_valid_cpf(cpf)


def test_completion_makes_valid_documents() -> None:
    assert complete_cnpj("061404040001") == "06140404000167"
    assert complete_cpf("529982247") == "52998224725"


def test_parse_strips_punctuation_and_refuses_bad_digits() -> None:
    assert parse_document("06.140.404/0001-67") == "06140404000167"
    assert parse_document("529.982.247-25") == "52998224725"
    with pytest.raises(InvalidTaxId) as caught:
        parse_document("529.982.247-24")
    assert caught.value.code == "INVALID_DOCUMENT"
