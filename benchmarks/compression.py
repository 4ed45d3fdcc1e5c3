"""Choose COMPRESSION_LEVEL by measurement: size and CPU time of Brotli qualities (and
gzip and zstd levels, for comparison) on the 100-row nested page, the typical answer.

    .venv/bin/python benchmarks/compression.py      # needs BENCH_DATABASE_URL seeded
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable

import brotli
import orjson
import zstandard
from compiled import NESTED
from harness import database_url

from cidadao_gql.data.db import open_database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.execution.schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings


async def answer() -> bytes:
    settings = Settings(database_url=database_url())
    async with open_database(settings) as db:
        context = Context(db, settings, Loaders(db), None, "bench")
        result = await build_schema(settings).execute(NESTED, context_value=context)
        return orjson.dumps({"data": result.data})


def timed(compress: Callable[[], bytes], runs: int) -> tuple[int, float]:
    started = time.perf_counter()
    for _ in range(runs):
        out = compress()
    return len(out), (time.perf_counter() - started) / runs * 1e6


def compressor(codec: str, level: int) -> Callable[[bytes], bytes]:
    if codec == "br":
        return lambda body: bytes(brotli.compress(body, quality=level))
    if codec == "gzip":
        return lambda body: gzip.compress(body, compresslevel=level)
    return zstandard.ZstdCompressor(level=level).compress


def main() -> None:
    body = asyncio.run(answer())
    print(f"nested page: {len(body):,} bytes\n")
    print("| codec | level | bytes | ratio | µs per answer |")
    print("|---|---:|---:|---:|---:|")
    cases = [("br", q) for q in (1, 2, 3, 4, 5, 6, 8, 11)]
    cases += [("gzip", level) for level in (1, 4, 6, 9)] + [("zstd", level) for level in (1, 3, 9)]
    for codec, level in cases:
        compress = compressor(codec, level)
        size, micros = timed(lambda c=compress: c(body), 20 if level > 8 else 200)  # type: ignore[misc]  # default binds the loop's value
        print(f"| {codec} | {level} | {size:,} | {size / len(body):.1%} | {micros:,.0f} |")


if __name__ == "__main__":
    main()
