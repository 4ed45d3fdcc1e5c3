"""CPU per request of each peers.py shape in process (the whole ASGI stack, no HTTP), and
where it goes: cProfile's top functions for the shapes named.

    BENCH_DATABASE_URL=... .venv/bin/python benchmarks/shape_profile.py [--requests N]
        [--set nine|extra|all | --shapes-file F] [--shapes a,b] [--profile a,b]
        [--env KEY=VALUE ...]

Counts SQL round trips per request too (the app's own counter), PostgreSQL's CPU per
request (its backends' for this database, from /proc: PostgreSQL on this machine), and how
each root field ran (`cidadao_ai_compiled_fields_total`: one statement, or the levels and
why). For choosing by measurement; the ratio between shapes, not the absolute figure, is
what a loaded machine leaves meaningful.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from pathlib import Path

import asyncpg
from harness import call, database_url, lifespan
from peers import EXTRA, OUR_ENV, SHAPES, body_of, pick_keys, shapes_of

from cidadao_gql import metrics
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--set", default="nine", choices=("nine", "extra", "all"))
    parser.add_argument("--shapes", default="")
    parser.add_argument("--profile", default="")
    parser.add_argument("--shapes-file", default="", help="an outside tester's (peers.py's)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE over peers' own")
    args = parser.parse_args()
    keys = await pick_keys()
    env = {**os.environ, **OUR_ENV, "DATABASE_URL": database_url()}
    env.update(item.split("=", 1) for item in args.env)  # CACHE_STRATEGY=memory, say
    app = create_app(Settings.from_env(env))
    wanted = set(filter(None, args.shapes.split(",")))
    profiled = set(filter(None, args.profile.split(",")))
    shapes = {"nine": SHAPES, "extra": EXTRA, "all": SHAPES + EXTRA}[args.set]
    if args.shapes_file:
        shapes = tuple(shapes_of(Path(args.shapes_file)))
    watcher = await asyncpg.connect(database_url())
    async with lifespan(app) as state:
        trips = state["resources"].db.round_trips if "resources" in state else None
        for shape in shapes:
            if wanted and shape.name not in wanted:
                continue
            body = body_of(shape, "cidadao-gql", keys).encode()
            for _ in range(5):
                await call(app, state, body)
            profiler = cProfile.Profile() if shape.name in profiled else None
            before = trips.ours if trips else 0
            paths = _compiled_fields()
            backends = await _backend_cpu(watcher)
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for _ in range(args.requests):
                await call(app, state, body)
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            after = await _backend_cpu(watcher)
            pg = sum(after[pid] - backends.get(pid, 0.0) for pid in after) / args.requests
            ran = {k: round(v - paths.get(k, 0.0)) // args.requests
                   for k, v in _compiled_fields().items() if v > paths.get(k, 0.0)}  # fmt: skip
            await asyncio.sleep(0)
            n = ((trips.ours - before) / args.requests) if trips else float("nan")
            print(
                f"{shape.name:22} cpu {1000 * cpu / args.requests:6.2f} ms"
                f"  wall {1000 * wall / args.requests:6.2f} ms  statements {n:.1f}"
                f"  postgres cpu {1000 * pg:6.2f} ms  root fields {ran or 'ordinary path'}"
            )
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    await watcher.close()


def _compiled_fields() -> dict[str, float]:
    """cidadao_ai_compiled_fields_total so far, by `how: reason`."""
    found = {}
    for metric in metrics.COMPILED_FIELDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                how, why = sample.labels["how"], sample.labels["reason"]
                found[f"{how}: {why}" if why else how] = sample.value
    return found


async def _backend_cpu(conn: asyncpg.Connection) -> dict[int, float]:
    """CPU seconds of each backend of this database but `conn`'s (PostgreSQL on this
    machine: its processes' /proc)."""
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    found = {}
    for row in pids:
        try:
            stat = Path(f"/proc/{row['pid']}/stat").read_text()  # noqa: ASYNC240 (a /proc read)
            fields = stat.rpartition(")")[2].split()
        except OSError:
            continue
        found[row["pid"]] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


if __name__ == "__main__":
    asyncio.run(main())
