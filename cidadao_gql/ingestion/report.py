"""What an import did: counts per source and table, the rejected rows with their reasons,
and the limit on how many may be rejected before the import is refused."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TextIO

import orjson

from cidadao_gql.ingestion.pncp import Row


@dataclass
class SourceCount:
    read: int = 0
    rejected: int = 0

    @property
    def loaded(self) -> int:
        return self.read - self.rejected


@dataclass
class TableCount:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class RejectLimit:
    """How many of a source's rows may be rejected with the rest still loaded: a number of
    rows, or a percentage of the rows read. Neither set: no limit."""

    rows: int | None = None
    percent: Decimal | None = None

    @classmethod
    def parse(cls, text: str) -> RejectLimit:
        """`10` (rows) or `1%` (of the rows read); ValueError for anything else."""
        raw = text.strip()
        try:
            if raw.endswith("%"):
                percent = Decimal(raw[:-1])
                if 0 <= percent <= 100:
                    return cls(percent=percent)
            elif int(raw) >= 0:
                return cls(rows=int(raw))
        except (ValueError, InvalidOperation):
            pass
        raise ValueError(f"expected a number of rows (10) or a percentage (1%), got {text!r}")

    def allows(self, count: SourceCount) -> bool:
        if self.percent is not None:
            return count.rejected * 100 <= self.percent * count.read
        return self.rows is None or count.rejected <= self.rows

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{self.percent}%"
        return "no limit" if self.rows is None else f"{self.rows} row(s)"


UNLIMITED = RejectLimit()


@dataclass
class ImportReport:
    sources: dict[str, SourceCount] = field(default_factory=dict)
    tables: dict[str, TableCount] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"{name}: read {c.read}, loaded {c.loaded}, rejected {c.rejected}"
            for name, c in self.sources.items()
        ]
        out += [
            f"{name}: {c.inserted} new, {c.updated} updated, {c.unchanged} unchanged"
            for name, c in self.tables.items()
        ]
        return out


@dataclass(frozen=True, slots=True)
class Reject:
    source: str
    record: int
    reason: str
    row: Row


class Rejects:
    """Collects unusable rows and writes them as CSV: source, record, reason, row as JSON."""

    def __init__(self) -> None:
        self.rows: list[Reject] = []

    def add(self, source: str, record: int, reason: str, row: Row) -> None:
        self.rows.append(Reject(source, record, reason, row))

    def write(self, out: TextIO) -> None:
        writer = csv.writer(out)
        writer.writerow(["source", "record", "reason", "row"])
        for r in self.rows:
            writer.writerow([r.source, r.record, r.reason, orjson.dumps(dict(r.row)).decode()])
