"""Brazilian taxpayer documents: CNPJ (companies and agencies) and CPF (people).

Check digits are modulo 11. CNPJ also accepts the alphanumeric form in force since
July 2026 (IN RFB 2.229/2024): each of the first 12 characters is worth its ASCII code
minus 48, so digits keep their value and letters become 17..42; check digits stay numeric.
"""

from __future__ import annotations

import re

from cidadao_gql.errors import InvalidTaxId

_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_CPF = re.compile(r"[0-9]{11}")
_PUNCTUATION = re.compile(r"[.\-/\s]")


def _check_digit(values: list[int], weights: list[int]) -> int:
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def is_valid_cnpj(text: str) -> bool:
    if not _CNPJ.fullmatch(text) or len(set(text)) == 1:
        return False
    values = [ord(c) - 48 for c in text]
    first = _check_digit(values[:12], [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    second = _check_digit(values[:13], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return values[12] == first and values[13] == second


def is_valid_cpf(text: str) -> bool:
    if not _CPF.fullmatch(text) or len(set(text)) == 1:
        return False
    values = [int(c) for c in text]
    first = _check_digit(values[:9], list(range(10, 1, -1)))
    second = _check_digit(values[:10], list(range(11, 1, -1)))
    return values[9] == first and values[10] == second


def normalize_document(raw: str) -> str:
    """Strip punctuation and upper-case; the result is what we store and compare."""
    return _PUNCTUATION.sub("", raw).upper()


def parse_document(raw: str) -> str:
    """A CNPJ or CPF with valid check digits, normalized; InvalidTaxId otherwise."""
    text = normalize_document(raw)
    if (len(text) == 14 and is_valid_cnpj(text)) or (len(text) == 11 and is_valid_cpf(text)):
        return text
    raise InvalidTaxId(f"{raw!r} is not a valid CNPJ or CPF", document=raw)


def parse_cnpj(raw: str) -> str:
    text = normalize_document(raw)
    if is_valid_cnpj(text):
        return text
    raise InvalidTaxId(f"{raw!r} is not a valid CNPJ", document=raw)


def complete_cnpj(base: str) -> str:
    """Append the two check digits to a 12-character CNPJ base (used by the generator)."""
    values = [ord(c) - 48 for c in base]
    first = _check_digit(values, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    second = _check_digit([*values, first], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{base}{first}{second}"


def complete_cpf(base: str) -> str:
    """Append the two check digits to a 9-digit CPF base (used by the generator)."""
    values = [int(c) for c in base]
    first = _check_digit(values, list(range(10, 1, -1)))
    second = _check_digit([*values, first], list(range(11, 1, -1)))
    return f"{base}{first}{second}"
