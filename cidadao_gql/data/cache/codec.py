"""Values for L2 and L3: JSON that keeps the types our rows hold (Decimal, date, datetime).

Not pickle: a shared Redis is not trusted with code execution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, asyncpg.Record):
        return dict(value)
    raise TypeError(f"cannot cache a {type(value).__name__}")


_REVIVE: dict[str, Callable[[str], Any]] = {
    "$dec": Decimal,
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
}


def revive(value: Any) -> Any:
    """Undo the tags `dumps` put on typed values."""
    if isinstance(value, list):
        return [revive(v) for v in value]
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag in _REVIVE:
                return _REVIVE[tag](text)
        return {k: revive(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def loads(data: bytes) -> Any:
    return revive(orjson.loads(data))
