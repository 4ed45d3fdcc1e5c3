"""Cleaning of raw PNCP values: blanks, junk placeholders, numbers, booleans and dates.

Raw values come from CSV exports (everything a string) or from the API's JSON (numbers and
booleans already typed); each function takes either.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from cidadao_gql.errors import BadValue

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
# Plain ASCII notation only: Decimal() alone would also take `1_000`, Arabic-Indic `٣٤` and
# fullwidth `１２３`, which no export writes and which hide a damaged or foreign file.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# The PNCP formats (data README): `2025-01-02T11:42:37`, and a date alone. A time zone
# (`Z`, `-03:00`) is taken and converted to Brasília local time, what the columns hold
# (migrations/0001_schema.sql); `20231231` and week dates such as `2023-W52-7` are not.
_DATE_TIME = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)
BRASILIA = ZoneInfo("America/Sao_Paulo")
# Dates outside these are placeholders (`0001-01-01`, `9999-12-31`, which PostgreSQL would
# store as -infinity and infinity) or typos, never a PNCP event: the portal opened in 2021,
# and the oldest procurement in the sample is from 2023. The row is rejected with a reason.
EARLIEST, LATEST = date(1990, 1, 1), date(2099, 12, 31)


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
    if not _NUMBER.fullmatch(value):
        raise BadValue(f"expected a number in ASCII digits, got {value!r}")
    if abs(number) >= _DECIMAL_LIMIT:
        raise BadValue(f"{value!r} is out of range (must be below {_DECIMAL_LIMIT:,})")
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
    """Brasília local time, naive, from an ISO date-time (a zone, if any, converted) or a
    date alone (midnight). Every date and time the importer reads goes through here."""
    value = text(raw)
    if value is None:
        return None
    try:
        if not _DATE_TIME.fullmatch(value):
            raise ValueError
        when = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise BadValue(
            f"expected an ISO date-time such as 2025-01-02T11:42:37, got {value!r}"
        ) from None
    # Checked before the zone is converted, which would overflow at 9999-12-31.
    if not EARLIEST <= when.date() <= LATEST:
        raise BadValue(f"{value!r} is outside {EARLIEST} to {LATEST}: a placeholder or a typo")
    if when.tzinfo is not None:
        when = when.astimezone(BRASILIA).replace(tzinfo=None)
    return when


def day(raw: object) -> date | None:
    """A date from `2025-01-02`, or the Brasília day of a date-time."""
    when = timestamp(raw)
    return None if when is None else when.date()
