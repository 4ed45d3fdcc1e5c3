"""CPU per request of each peers.py shape in process (the whole ASGI stack, no HTTP), and
where it goes: cProfile's top functions for the shapes named.

    BENCH_DATABASE_URL=... .venv/bin/python benchmarks/shape_profile.py [--requests N]
        [--shapes a,b] [--profile a,b] [--env KEY=VALUE ...]

Counts SQL round trips per request too (the app's own counter). For choosing by
measurement; the ratio between shapes, not the absolute figure, is what a loaded machine
leaves meaningful.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time

from harness import call, database_url, lifespan
from peers import OUR_ENV, SHAPES, body_of, pick_keys

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--shapes", default="")
    parser.add_argument("--profile", default="")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE over peers' own")
    args = parser.parse_args()
    keys = await pick_keys()
    env = {**os.environ, **OUR_ENV, "DATABASE_URL": database_url()}
    env.update(item.split("=", 1) for item in args.env)  # CACHE_STRATEGY=memory, say
    app = create_app(Settings.from_env(env))
    wanted = set(filter(None, args.shapes.split(",")))
    profiled = set(filter(None, args.profile.split(",")))
    async with lifespan(app) as state:
        trips = state["resources"].db.round_trips if "resources" in state else None
        for shape in SHAPES:
            if wanted and shape.name not in wanted:
                continue
            body = body_of(shape, "cidadao-gql", keys).encode()
            for _ in range(5):
                await call(app, state, body)
            profiler = cProfile.Profile() if shape.name in profiled else None
            before = trips.ours if trips else 0
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for _ in range(args.requests):
                await call(app, state, body)
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            await asyncio.sleep(0)
            n = ((trips.ours - before) / args.requests) if trips else float("nan")
            print(
                f"{shape.name:22} cpu {1000 * cpu / args.requests:6.2f} ms"
                f"  wall {1000 * wall / args.requests:6.2f} ms  statements {n:.1f}"
            )
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
