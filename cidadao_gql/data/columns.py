"""What the columns hold, read strictly from text and written back."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, DecimalException

# What the columns hold, read strictly from text (cursors, IDs, filters): a value PostgreSQL
# would refuse, or that Python reads leniently (int() takes " 1", "01", "1_0" and "١"),
# is a ValueError here rather than an error of the database's or a row the client did
# not name.
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
MONEY_LIMIT = Decimal(10) ** 16  # numeric(18, 2): 16 digits before the point, 2 after
CENT = Decimal("0.01")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_NUMERAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def read_key(text: str) -> int:
    """A primary key (bigint identity) as we write one: ASCII digits, no sign, no leading
    zero, from 1 to 2^63-1."""
    if not (text.isascii() and text.isdigit() and text[0] != "0" and len(text) <= 19):
        raise ValueError(f"{text!r} is not a key")
    key = int(text)
    if key > BIGINT_MAX:
        raise ValueError(f"{text!r} is past the largest key")
    return key


def read_integer(text: str) -> int:
    """An integer column's value, in canonical decimal and within its 32 bits."""
    if not _INTEGER.fullmatch(text) or len(text) > 11:
        raise ValueError(f"{text!r} is not an integer")
    value = int(text)
    if not -INTEGER_MAX - 1 <= value <= INTEGER_MAX:
        raise ValueError(f"{text!r} is outside an integer's range")
    return value


def read_money(text: str) -> Decimal:
    """An amount that numeric(18, 2) holds exactly: a plain decimal numeral (exponent
    allowed; no NaN, no infinity) under 10^16 in magnitude, with at most 2 decimals."""
    if not _NUMERAL.fullmatch(text):
        raise ValueError(f"{text!r} is not a decimal number")
    try:
        value = Decimal(text)
        if value.copy_abs() >= MONEY_LIMIT:
            raise ValueError(f"{text!r} is past the largest amount (16 digits before the point)")
        if value != value.quantize(CENT):
            raise ValueError(f"{text!r} has more than 2 decimals")
    except DecimalException:  # an exponent past what decimal represents
        raise ValueError(f"{text!r} is past the largest amount") from None
    return value


def write_money(value: Decimal) -> str:
    """An amount as the API writes it in cursors: two decimals, no exponent, and zero with
    no sign (numeric has no negative zero; Decimal does)."""
    return str(value.quantize(CENT) + 0)


def read_text(text: str) -> str:
    """A text column's value (a name): anything PostgreSQL text holds, so not NUL."""
    if "\x00" in text:
        raise ValueError("text holds no NUL")
    return text


def read_date(text: str) -> date:
    """A date as isoformat writes it (YYYY-MM-DD; fromisoformat takes more)."""
    value = date.fromisoformat(text)
    if value.isoformat() != text:
        raise ValueError(f"{text!r} is not a date in YYYY-MM-DD")
    return value


def read_timestamp(text: str) -> datetime:
    """A timestamp without a zone, as isoformat writes it."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None or value.isoformat() != text:
        raise ValueError(f"{text!r} is not a timestamp as we write them")
    return value
