"""Choose COMPRESSION_LEVEL by measurement: size and CPU time of Brotli qualities (and
gzip and zstd levels, for comparison) on the 100-row nested page, the typical answer.

    .venv/bin/python benchmarks/compression.py      # about 1 min; needs BENCH_DATABASE_URL seeded

No load, no server: each codec and level compresses the page many times in this process
(200 times, 20 for the slowest levels), in CPU time, the median of 5 such runs shown. Writes
benchmarks/results/compression.md and .json (benchmarks/readme.py puts the table in the
README).
"""

from __future__ import annotations

import asyncio
import gzip
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import brotli
import orjson
import zstandard
from compiled import NESTED
from harness import database_url
from record import save

from cidadao_gql.data.db import open_database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from cidadao_gql.web import encodings

ROUNDS = 5
CASES = (
    *(("br", q) for q in (1, 2, 3, 4, 5, 6, 8, 11)),
    *(("gzip", level) for level in (1, 4, encodings.GZIP_LEVEL, 9)),
    *(("zstd", level) for level in (1, encodings.ZSTD_LEVEL, 9)),
)


async def answer() -> bytes:
    """The nested page as the API answers it; a benchmark of an error answer stops here."""
    settings = Settings(database_url=database_url())
    async with open_database(settings) as db:
        context = Context(db, settings, Loaders(db), None, "bench")
        result = await build_schema(settings).execute(NESTED, context_value=context)
    if result.errors or not result.data:
        sys.exit(f"the nested page answered errors: {result.errors}")
    return orjson.dumps({"data": result.data})


def timed(compress: Callable[[bytes], bytes], body: bytes, runs: int) -> tuple[int, float]:
    """The compressed size and the median over ROUNDS of µs per answer: this thread's CPU
    time, not the wall clock's, so that other processes on the machine's cores do not
    count (their effect on its caches still does)."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.thread_time()
        for _ in range(runs):
            out = compress(body)
        rounds.append((time.thread_time() - started) / runs * 1e6)
    return len(out), statistics.median(rounds)


def compressor(codec: str, level: int) -> Callable[[bytes], bytes]:
    if codec == "br":
        return lambda body: bytes(brotli.compress(body, quality=level))
    if codec == "gzip":
        return lambda body: gzip.compress(body, compresslevel=level, mtime=0)
    return zstandard.ZstdCompressor(level=level).compress


def main() -> None:
    body = asyncio.run(answer())
    rows = []
    for codec, level in CASES:
        size, micros = timed(compressor(codec, level), body, 20 if level > 8 else 200)
        rows.append({"codec": codec, "level": level, "bytes": size, "micros": micros})
    report(body, rows)


def report(body: bytes, rows: list[dict[str, Any]]) -> None:
    by = {(r["codec"], r["level"]): r for r in rows}
    default = Settings().compression_level
    chosen, above = by[("br", default)], by[("br", default + 1)]
    lines = [
        f"The nested page (100 contracts), {len(body):,} bytes of JSON, compressed in process; "
        f"µs of CPU per answer, the median of {ROUNDS} runs. In use: zstd {encodings.ZSTD_LEVEL}, "
        f"Brotli `COMPRESSION_LEVEL` ({default}), gzip {encodings.GZIP_LEVEL}.",
        "",
        "| codec | level | bytes | share of the size | µs of CPU per answer |",
        "|---|---:|---:|---:|---:|",
        *(f"| {r['codec']} | {r['level']} | {r['bytes']:,} | {r['bytes'] / len(body):.1%} | "
          f"{r['micros']:,.0f} |" for r in rows),
        "",
        f"- Brotli {default} (the default): **{chosen['bytes'] / len(body):.1%}** of the size "
        f"in {chosen['micros']:,.0f} µs; {default + 1} saves "
        f"{(chosen['bytes'] - above['bytes']) / len(body) * 100:.1f} points for "
        f"{above['micros'] / chosen['micros'] - 1:.0%} more CPU",
    ]  # fmt: skip
    save("compression", "\n".join(lines), {"body_bytes": len(body), "rounds": ROUNDS, "rows": rows})


if __name__ == "__main__":
    main()
