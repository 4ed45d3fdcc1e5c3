"""Cache hit ratio under a Zipf workload (the hit path itself: benchmarks/hit_path.py).

    .venv/bin/python benchmarks/cache_zipf.py [--distinct N] [--duration S]

wrk replays `--distinct` different queries (contract pages of one agency, 2..6 rows) drawn
from a Zipf distribution with exponent 1.1, for `--duration` seconds, against one uvicorn
worker with Redis; then /metrics gives the hits and lookups per tier. The 50 most asked
requests are checked for GraphQL errors first (their answers stay in L1, Redis is flushed
again); the run counts HTTP and GraphQL errors. Writes benchmarks/results/cache_zipf.md
and .json.

Needs wrk, PostgreSQL (BENCH_DATABASE_URL, seeded as benchmarks/harness.py seeds it) and a Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/14, flushed first).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
from typing import Any

import asyncpg
import httpx
import redis
from harness import check_answers, database_url, ensure_wrk, load, lua_script, port, seed, server
from record import save

PAGE = "query Page($agency: ID, $n: Int!) { contracts(first: $n, filter: {agency: $agency}) { nodes { number finalValue signedOn supplier { name } } } }"

ZIPF = """
local n, s = #bodies, %(exponent)s
local cdf, total = {}, 0
for k = 1, n do total = total + 1 / k ^ s; cdf[k] = total end
for k = 1, n do cdf[k] = cdf[k] / total end
local function pick()
  local u, lo, hi = math.random(), 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end
"""


def bodies(agency_ids: list[int], distinct: int, rng: random.Random) -> list[str]:
    """`distinct` different requests, in a random order: rank 1 is the most requested."""
    pairs = [(a, n) for a in agency_ids for n in range(2, 7)][:distinct]
    rng.shuffle(pairs)
    return [
        json.dumps(
            {
                "query": PAGE,
                "variables": {"agency": base64.b64encode(f"Agency:{a}".encode()).decode(), "n": n},
            }
        )
        for a, n in pairs
    ]


def tier_counts(metrics_text: str) -> dict[str, dict[str, float]]:
    counts: dict[str, dict[str, float]] = {}
    pattern = re.compile(
        r'cidadao_ai_cache_requests_total\{namespace="[^"]*",result="(hit|miss)",tier="([^"]*)"\} ([0-9.e+]+)'
    )
    for result, tier, value in pattern.findall(metrics_text):
        counts.setdefault(tier, {"hit": 0.0, "miss": 0.0})[result] += float(value)
    return counts


async def agencies(url: str, wanted: int) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id FROM agencies ORDER BY id LIMIT $1", wanted)
    finally:
        await conn.close()
    return [r["id"] for r in rows]


def arguments() -> argparse.Namespace:
    """The Zipf workload's options, shared with edge_zipf.py (the same workload through Varnish)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--exponent", type=float, default=1.1)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    ensure_wrk()
    seed(args.contracts)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    redis.Redis.from_url(redis_url).flushdb()
    ids = asyncio.run(agencies(database_url(), args.distinct // 5 + 1))
    distinct = bodies(ids, args.distinct, random.Random(7))
    script = lua_script(distinct, pick=ZIPF % {"exponent": args.exponent})
    env = {"DATABASE_URL": database_url(), "REDIS_URL": redis_url, "RATE_LIMIT_CAPACITY": "0"}
    one = ["cidadao_gql.web.app:create_app", "--factory", "--workers", "1"]
    with server(one, env, port(21)) as base:
        check_answers(base, distinct[:50])  # the most asked; every one has the same shape
        redis.Redis.from_url(redis_url).flushdb()  # the cold start in the figures
        replay = load(base, script, args.duration, args.connections, warmup=0)
        counts = tier_counts(httpx.get(f"{base}/metrics").text)
    report(replay, counts, args)


def report(replay: dict[str, float], counts: dict[str, dict[str, float]], args: Any) -> None:
    lines = [
        f"Zipf (exponent {args.exponent}) over {args.distinct:,} distinct contract pages, one "
        f"uvicorn worker with Redis, {args.duration} s, the cold start included: "
        f"{replay['requests']:,.0f} requests, {replay['rps']:,.0f} req/s, P95 "
        f"{replay['p95']:.1f} ms, {replay['errors']:.0f} HTTP errors, "
        f"{replay['graphql_errors']:.0f} GraphQL errors.",
        "",
        "| tier | lookups | hits | hit ratio |",
        "|---|---:|---:|---:|",
    ]
    names = {"response": "whole response", "l1": "L1 (responses and rows behind the loaders)",
             "l2": "L2", "l3": "L3"}  # fmt: skip
    for tier, name in names.items():
        c = counts.get(tier, {"hit": 0.0, "miss": 0.0})
        looked = c["hit"] + c["miss"]
        if looked:
            ratio = f"{c['hit'] / looked:.1%}"
            lines.append(f"| {name} | {looked:,.0f} | {c['hit']:,.0f} | {ratio} |")
    save("cache_zipf", "\n".join(lines), {"load": replay, "tiers": counts, "options": vars(args)})


if __name__ == "__main__":
    main()
