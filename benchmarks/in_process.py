"""CPU per request of the app called in process: no server, no load generator, no network
between client and app; what a change to the request path costs or saves, in µs.

    .venv/bin/python benchmarks/in_process.py [--page nested|flat|typename|SHAPE|peers]
        [--requests N] [--concurrency C] [--contracts N] [--profile] [--instructions]

SHAPE is one of the shapes of benchmarks/peers.py, the nine or `--shapes extra`'s (`peers`:
the nine in turn), with its
variables naming the agency and the supplier with the most contracts. The app (compiled
executor, response cache and field cache off) answers N POSTs of the
page (1,000, C at a time: 8) after 50 of warm-up, on uvloop, through the whole ASGI stack;
process CPU time per request is printed. PostgreSQL's own CPU is not in it (see
benchmarks/compiled.py for the whole machine). `--profile` adds cProfile's top functions.
Runs on this machine vary by about ±5 %: compare figures of back-to-back runs.

`--instructions` runs the same under valgrind's callgrind and prints the instructions the
process executes per request instead (user space only, counted while the N requests run):
a figure the machine's other processes barely move, for comparing two commits on a shared
machine (each under valgrind is about 50 times slower: use a few hundred requests).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
        done = requests // concurrency * concurrency
        if COUNTED in os.environ:
            with counting() as counted:
                await batch(requests)
            print(f"{page}: {counted[0] / done:,.0f} instructions per request, {done:,} "
                  f"requests, {concurrency} at a time")  # fmt: skip
            return
        wall, cpu = time.perf_counter(), time.process_time()
        await batch(requests)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{page}: {cpu / done * 1e6:,.0f} µs of CPU per request "
              f"({wall / done * 1e6:,.0f} µs of wall time), {done:,} requests, {concurrency} at a time")  # fmt: skip
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await batch(min(requests, 300))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


COUNTED = "IN_PROCESS_CALLGRIND"  # where callgrind writes, set in the process it runs


def callgrind(*switches: str) -> None:
    """Tell callgrind about this process; its answer comes while the process sleeps."""
    command = subprocess.Popen(["callgrind_control", *switches, str(os.getpid())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while command.poll() is None:
        time.sleep(0.02)


@contextmanager
def counting() -> Iterator[list[int]]:
    """The instructions executed inside the block (instrumentation on only there)."""
    counted: list[int] = []
    callgrind("-z")
    callgrind("-i", "on")
    yield counted
    callgrind("-i", "off")
    callgrind("-d")
    dumps = Path(os.environ[COUNTED]).glob(f"callgrind.{os.getpid()}.*")
    latest = max(dumps, key=lambda path: int(path.suffix[1:]))
    totals = [line for line in latest.read_text().splitlines() if line.startswith("totals:")]
    counted.append(int(totals[0].split()[1]))


def under_callgrind() -> None:
    if not shutil.which("valgrind"):
        sys.exit("--instructions needs valgrind (Debian's package valgrind)")
    with tempfile.TemporaryDirectory() as out:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={out}/callgrind.%p", sys.executable, *sys.argv]  # fmt: skip
        subprocess.run(command, env={**os.environ, COUNTED: out}, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shapes = [*sorted(PAGES), *(s.name for s in (*SHAPES, *EXTRA)), "peers"]
    parser.add_argument("--page", choices=shapes, default="nested")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--instructions", action="store_true")
    args = parser.parse_args()
    if COUNTED not in os.environ:  # else the process callgrind runs: seeded already
        seed(args.contracts)
        if args.instructions:
            under_callgrind()
            return
    uvloop.run(measure(args.page, args.requests, args.concurrency, args.profile))


if __name__ == "__main__":
    main()
