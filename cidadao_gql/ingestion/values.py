"""Cleaning of raw PNCP values: blanks, junk placeholders, numbers, booleans and dates.

Raw values come from CSV exports (everything a string) or from the API's JSON (numbers and
booleans already typed); each function takes either.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

# Placeholders that some source systems write where a value is missing: a Java object's
# default toString (`net.sourceforge.jtds.jdbc.ClobImpl@4716792b`) or an unfilled template
# variable (`{justificativaPresencial}`).
_JUNK = re.compile(r"^(?:[a-z]+(?:\.[A-Za-z_$]+)+@[0-9a-f]+|\{[A-Za-z_]+\})$")
_SPACES = re.compile(r"\s+")
# The widest values the tables hold: integer columns, and numeric(18, 4) (R$ 100 trillion,
# beyond any real procurement). A wider value is rejected with its row instead of failing
# the whole import in PostgreSQL.
_INT_RANGE = range(-(2**31), 2**31)
_DECIMAL_LIMIT = Decimal(10) ** 14


class BadValue(ValueError):
    """A value that is present but cannot be read as the type its column needs."""


def text(raw: object) -> str | None:
    """Trimmed text with runs of whitespace collapsed, or None for blanks and placeholders."""
    if raw is None:
        return None
    value = _SPACES.sub(" ", str(raw)).strip()
    if not value or _JUNK.match(value):
        return None
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise BadValue("contains a NUL character")
    return value


def decimal(raw: object) -> Decimal | None:
    """A decimal from `763200`, `0.588`, `2396.0` or `1e+05`; None when blank."""
    if isinstance(raw, bool):
        raise BadValue(f"expected a number, got {raw!r}")
    value = text(raw)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadValue(f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise BadValue(f"expected a finite number, got {value!r}")
    if abs(number) >= _DECIMAL_LIMIT:
        raise BadValue(f"{value!r} is out of range (at most {_DECIMAL_LIMIT:.0e})")
    return number


def integer(raw: object) -> int | None:
    number = decimal(raw)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise BadValue(f"expected an integer, got {raw!r}")
    if int(number) not in _INT_RANGE:
        raise BadValue(f"{raw!r} is out of range")
    return int(number)


def small_integer(raw: object) -> int | None:
    """An integer for a smallint column (years, codes)."""
    number = integer(raw)
    if number is not None and not -(2**15) <= number < 2**15:
        raise BadValue(f"{raw!r} is out of range")
    return number


def boolean(raw: object) -> bool | None:
    if isinstance(raw, bool):
        return raw
    value = text(raw)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadValue(f"expected a boolean, got {value!r}")


def timestamp(raw: object) -> datetime | None:
    value = text(raw)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise BadValue(f"expected an ISO date-time, got {value!r}") from None


def day(raw: object) -> date | None:
    value = text(raw)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadValue(f"expected an ISO date, got {value!r}") from None
