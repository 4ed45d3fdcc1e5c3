"""CPU per request of the app called in process: no server, no load generator, no network
between client and app; what a change to the request path costs or saves, in µs.

    .venv/bin/python benchmarks/in_process.py [--page nested|flat|typename|SHAPE|peers]
        [--requests N] [--concurrency C] [--contracts N] [--profile]

SHAPE is one of the shapes of benchmarks/peers.py, the nine or `--shapes extra`'s (`peers`:
the nine in turn), with its
variables naming the agency and the supplier with the most contracts. The app (compiled
executor, response cache and field cache off) answers N POSTs of the
page (1,000, C at a time: 8) after 50 of warm-up, on uvloop, through the whole ASGI stack;
process CPU time per request is printed. PostgreSQL's own CPU is not in it (see
benchmarks/compiled.py for the whole machine). `--profile` adds cProfile's top functions.
Runs on this machine vary by about ±5 %: compare figures of back-to-back runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time

import orjson
import uvloop
from harness import call, database_url, lifespan, seed
from peers import EXTRA, SHAPES, body_of, pick_keys

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app

PAGES = {
    "nested": """query Nested { contracts(first: 100) { edges { node {
  id number object finalValue signedOn
  supplier { id name document } agency { id name cnpj uf } } } } }""",
    "flat": """query Flat { contracts(first: 100) { edges { node {
  id number object finalValue signedOn modality uf } } } }""",
    "typename": "query Typename { __typename }",
}


async def bodies(page: str) -> dict[str, bytes]:
    if page in PAGES:
        return {page: orjson.dumps({"query": PAGES[page]})}
    keys = await pick_keys()
    shapes = [s for s in (*SHAPES, *EXTRA) if page == s.name or (page == "peers" and s in SHAPES)]
    return {s.name: body_of(s, "cidadao-gql", keys).encode() for s in shapes}


async def measure(page: str, requests: int, concurrency: int, profile: bool) -> None:
    for name, body in (await bodies(page)).items():
        await measure_one(name, body, requests, concurrency, profile)


async def measure_one(
    page: str, body: bytes, requests: int, concurrency: int, profile: bool
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url(), "RATE_LIMIT_CAPACITY": "0",
           "LOG_LEVEL": "WARNING", "RESPONSE_CACHE_TTL": "0", "RUN_INVESTIGATIONS": "false",
           "CACHE_STRATEGY": "none", "EXECUTOR": "compiled"}  # fmt: skip
    app = create_app(Settings.from_env(env))
    async with lifespan(app) as state:

        async def batch(n: int) -> None:
            for _ in range(n // concurrency):
                await asyncio.gather(*(call(app, state, body) for _ in range(concurrency)))

        await batch(50)
        wall, cpu = time.perf_counter(), time.process_time()
        await batch(requests)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done = requests // concurrency * concurrency
        print(f"{page}: {cpu / done * 1e6:,.0f} µs of CPU per request "
              f"({wall / done * 1e6:,.0f} µs of wall time), {done:,} requests, {concurrency} at a time")  # fmt: skip
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await batch(min(requests, 300))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shapes = [*sorted(PAGES), *(s.name for s in (*SHAPES, *EXTRA)), "peers"]
    parser.add_argument("--page", choices=shapes, default="nested")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    seed(args.contracts)
    uvloop.run(measure(args.page, args.requests, args.concurrency, args.profile))


if __name__ == "__main__":
    main()
