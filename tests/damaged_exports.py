"""The PNCP sample damaged the ways files arrive: re-encoded, `;`-delimited, a column short,
cut off, or not text at all. Each is written from the real sample into a test's directory;
none is kept in the repository."""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Callable
from pathlib import Path

import asyncpg

from tests.conftest import SAMPLE_DIR, connect

NAMES = ("contratacoes.csv", "itens_medicamentos.csv", "resultados.csv")
# The characters of the sample that ISO-8859-1 lacks (dashes and curly quotes, all in
# contratacoes.csv), as the nearest it has; Windows-1252 has them all.
LATIN1_SAFE = str.maketrans({"–": "-", "—": "-", "“": "'", "”": "'", "’": "'"})
TABLES = ("agencies", "suppliers", "procurements", "items", "awards")


def sample_text(name: str) -> str:
    return (SAMPLE_DIR / name).read_bytes().decode("utf-8")


def reencode(
    directory: Path, encoding: str, change: Callable[[str], str] = lambda text: text
) -> Path:
    """The three files as `encoding` (strictly: a character it lacks fails the test)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (directory / name).write_bytes(change(sample_text(name)).encode(encoding))
    return directory


def latin1_safe(text: str) -> str:
    return text.translate(LATIN1_SAFE)


def redelimit(directory: Path, delimiter: str) -> Path:
    """The three files with another delimiter; every value as it was."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        records = list(csv.reader(io.StringIO(sample_text(name), newline="")))
        _write(directory / name, records[0], records[1:], delimiter=delimiter)
    return directory


def without_column(directory: Path, name: str, column: str) -> Path:
    """The sample with one column taken out of one file, header and rows."""
    reencode(directory, "utf-8")
    records = list(csv.reader(io.StringIO(sample_text(name), newline="")))
    drop = records[0].index(column)
    kept = [[v for i, v in enumerate(r) if i != drop] for r in records]
    _write(directory / name, kept[0], kept[1:])
    return directory


def truncated(directory: Path, name: str, size: int) -> Path:
    """The sample with `name` cut off about `size` bytes in, inside a UTF-8 character (the
    worst place: the bytes left are not valid UTF-8)."""
    reencode(directory, "utf-8")
    data = (SAMPLE_DIR / name).read_bytes()
    cut = next(i for i in range(size, len(data)) if data[i] >= 0xC0) + 1
    (directory / name).write_bytes(data[:cut])
    return directory


def not_text(directory: Path, kind: str) -> Path:
    """The sample with resultados.csv as random bytes or gzip-compressed."""
    reencode(directory, "utf-8")
    path = directory / "resultados.csv"
    if kind == "gzip":
        path.write_bytes(gzip.compress((SAMPLE_DIR / path.name).read_bytes()))
    else:
        path.write_bytes(random.Random(22).randbytes(4096))
    return directory


def _write(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode("utf-8"))


async def table_contents(url: str) -> dict[str, list[asyncpg.Record]]:
    """Every loaded row of every table the importer writes, in id order."""
    async with connect(url) as conn:
        return {t: await conn.fetch(f"SELECT * FROM {t} ORDER BY id") for t in TABLES}


def edit_records(
    directory: Path, name: str, change: Callable[[list[list[str]]], list[list[str]]]
) -> Path:
    """The sample with `name`'s records (header first) passed through `change`."""
    directory.mkdir(parents=True, exist_ok=True)
    for other in NAMES:
        if not (directory / other).exists():
            (directory / other).write_bytes((SAMPLE_DIR / other).read_bytes())
    records = list(csv.reader(io.StringIO(sample_text(name), newline="")))
    changed = change(records)
    _write(directory / name, changed[0], changed[1:])
    return directory


def drop_columns(records: list[list[str]], columns: set[str]) -> list[list[str]]:
    keep = [i for i, name in enumerate(records[0]) if name not in columns]
    return [[r[i] for i in keep] for r in records]
