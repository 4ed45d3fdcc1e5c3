"""What every input must be before any resolver runs: strings that PostgreSQL can store,
`Decimal`s that its numeric columns hold, searches its text-search parser takes.

graphql-core reserves `String`, so strings are checked where they enter instead: the
string literals of a document by a validation rule (cached with the document), the strings
of the variables before execution. Global IDs and cursors are checked where they are read
(relay.decode_id, relay.decode_cursor), before the SQL of the field that reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from graphql import (
    FloatValueNode,
    GraphQLError,
    IntValueNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    print_ast,
)

from cidadao_gql.data.columns import read_money
from cidadao_gql.errors import BadUserInput
from cidadao_gql.schema.strawberry_internals import ScalarDefinition

# websearch_to_tsquery nests a NOT per `-` and fails with an error of its own past 32 in
# a row ("tsquery stack too small"); a search of some 50,000 words exhausts its stack.
MAX_SEARCH = 500
MAX_SEARCH_NEGATIONS = 32
# The years a procurement's `year` (smallint) filter takes; PNCP begins in 2021.
MIN_YEAR, MAX_YEAR = 1900, 2100


def storable(text: str) -> bool:
    """Whether PostgreSQL text can hold it: no NUL, nothing UTF-8 cannot encode (a lone
    surrogate, which some JSON parsers let through)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def unstorable_variable(variables: object) -> BadUserInput | None:
    """The refusal of variables holding a string (a key or a value, at any depth) that no
    column can store; None when every string is storable."""
    if not isinstance(variables, Mapping):
        return None  # not variables at all: graphql-core says so
    for name, value in variables.items():
        stack = [name, value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if not storable(item):
                    shown = name if isinstance(name, str) and storable(name) else ascii(name)
                    return BadUserInput(
                        f"variable `${shown}` holds a NUL character or a lone surrogate,"
                        " which no text can hold",
                        variable=shown,
                    )
            elif isinstance(item, Mapping):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list | tuple):
                stack.extend(item)
    return None


class StorableStrings(ValidationRule):
    """String literals hold no NUL (`"\\u0000"` is valid GraphQL) and no lone surrogate."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if not storable(node.value):
            self.report_error(
                GraphQLError(
                    "a string holds a NUL character or a lone surrogate, which no text can hold",
                    node,
                    extensions={"code": BadUserInput.code},
                )
            )


def _money(value: object) -> Decimal:
    # JSON numbers are taken as they print (0.1 as "0.1"); booleans are not numbers here.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadUserInput(f"{value!r} is not a decimal number")
    try:
        return read_money(value if isinstance(value, str) else str(value))
    except ValueError as error:
        raise BadUserInput(str(error)) from None


def _money_literal(node: ValueNode, _variables: Any = None) -> Decimal:
    # A number in the document is read from its text: through float, 1e-999999 became 0.
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return _money(node.value)
    raise BadUserInput(f"{print_ast(node)} is not a decimal number")


_CENTS = Decimal("0.01")
# PNCP publishes times without a zone, in Brasília time; Brazil has kept no daylight saving
# since 2019 (Decreto 9.772/2019), before any PNCP record (2021), so the offset is fixed.
BRASILIA = timezone(timedelta(hours=-3))


def _decimal_text(value: Decimal | int) -> str:
    # At least two decimals: a supplier with no contracts totalled Decimal(0), printed "0".
    # Unit prices and quantities keep the four their columns hold.
    exact = value if isinstance(value, Decimal) else Decimal(value)
    exponent = exact.as_tuple().exponent
    return str(exact if isinstance(exponent, int) and exponent <= -2 else exact.quantize(_CENTS))


def _datetime_text(value: datetime) -> str:
    # timestamptz columns come back in UTC; timestamp ones (PNCP's) are Brasília's.
    return (value if value.tzinfo is not None else value.replace(tzinfo=BRASILIA)).isoformat()


def _date(value: object) -> date:
    # A Brazilian "01/09/2024" met Python's "Invalid isoformat string": say the form wanted.
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise BadUserInput(f"{value!r} is not a date: write it as YYYY-MM-DD (2024-09-01)")


def _datetime(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise BadUserInput(
        f"{value!r} is not a date with time: write it as YYYY-MM-DDTHH:MM:SS-03:00"
        " (2024-09-01T14:30:00-03:00), or a date alone"
    )


def _string_literal(parse: Any) -> Any:
    def literal(node: ValueNode, _variables: Any = None) -> Any:
        return parse(node.value if isinstance(node, StringValueNode) else print_ast(node))

    return literal


DATE = ScalarDefinition(
    name="Date",
    description="A calendar day, ISO 8601: YYYY-MM-DD (2024-09-01 is 1 September 2024).",
    specified_by_url=None,
    serialize=date.isoformat,
    parse_value=_date,
    parse_literal=_string_literal(_date),
    origin=date,
)


# Our DateTime: always with its UTC offset, so a client need not know where a time came from.
DATETIME = ScalarDefinition(
    name="DateTime",
    description=(
        "Date with time, ISO 8601 with its UTC offset (PNCP's times are Brasília's, -03:00)."
    ),
    specified_by_url=None,
    serialize=_datetime_text,
    parse_value=_datetime,
    parse_literal=_string_literal(_datetime),
    origin=datetime,
)


# Our Decimal: every Decimal input is compared with a numeric(18, 2) column, so it is
# refused (BAD_USER_INPUT) unless that column could hold it: NaN matched nothing or
# everything, and 1e999999 made PostgreSQL raise.
DECIMAL = ScalarDefinition(
    name="Decimal",
    description=(
        'An exact decimal number, as a string ("1234.56"). As input (an amount of money):'
        " at most 16 digits before the point and 2 after; no NaN or infinity. As output,"
        ' always with at least two decimals ("0.00").'
    ),
    specified_by_url=None,
    serialize=_decimal_text,
    parse_value=_money,
    parse_literal=_money_literal,
    origin=Decimal,
)


def checked_year(value: int | None) -> int | None:
    """A `year` as the filters take it: one a procurement can have (the column is a
    smallint: 32768 made asyncpg raise), BAD_USER_INPUT otherwise."""
    if value is not None and not MIN_YEAR <= value <= MAX_YEAR:
        raise BadUserInput(
            f"`year` is from {MIN_YEAR} to {MAX_YEAR}",
            argument="year",
            minimum=MIN_YEAR,
            maximum=MAX_YEAR,
        )
    return value


def search_text(text: str | None) -> str | None:
    """A `search` as the filters take it: None when blank (empty or spaces alone: no
    filter, whichever of them a form sends); refused past what PostgreSQL's text-search
    parser takes without an error."""
    if not text or text.isspace():
        return None
    if len(text) > MAX_SEARCH or text.count("-") > MAX_SEARCH_NEGATIONS:
        raise BadUserInput(
            f"`search` takes at most {MAX_SEARCH} characters, of which at most"
            f" {MAX_SEARCH_NEGATIONS} `-`",
            argument="search",
            maximum=MAX_SEARCH,
        )
    return text


def chosen(values: list[Any] | None, argument: str) -> tuple[Any, ...]:
    """The codes of a list of enum values (`ufIn`, `modalityIn`), each once, in order;
    an empty list is refused rather than read as "none" or as "any"."""
    if values is None:
        return ()
    if not values:
        raise BadUserInput(
            f"`{argument}` needs at least one value; leave it out for any", argument=argument
        )
    return tuple(dict.fromkeys(v.value for v in values))


def ibge_code(text: str | None) -> str | None:
    """A municipality's IBGE code as agencies carry it: seven digits (3550308, São Paulo).
    A name is not taken: towns share names across states."""
    if text is None:
        return None
    if not (len(text) == 7 and text.isascii() and text.isdigit()):
        raise BadUserInput(
            f"{text!r} is not an IBGE municipality code: write its seven digits"
            " (3550308 for São Paulo), as `Agency.ibgeCode` gives it",
            argument="ibgeCode",
        )
    return text
