"""A data set being generated: its tables as columns, in COPY order, and the anomalies
planted in it (the ground truth agents are scored against)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class Table:
    """Columns of one table, in COPY order; each value is a list or an array of equal length."""

    columns: list[str]
    data: list[Any]

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    def records(self, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        return zip(*(column[start:stop] for column in self.data), strict=True)


@dataclass
class Dataset:
    tables: dict[str, Table] = field(default_factory=dict)
    planted: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)

    def plant(self, kind: str, entity: str, ids: npt.NDArray[np.int64], **details: Any) -> None:
        self.planted.extend((kind, entity, int(i), details) for i in ids)
