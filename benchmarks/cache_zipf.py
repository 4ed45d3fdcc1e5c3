"""Cache hit ratio under a Zipf workload, and the response-cache hit path against bare Starlette.

    .venv/bin/python benchmarks/cache_zipf.py [--distinct N] [--duration S]

1. Hit ratio: wrk replays `--distinct` different queries (contract pages of one agency,
   2..6 rows) drawn from a Zipf distribution with exponent 1.1, for `--duration` seconds,
   against one uvicorn worker with Redis; then /metrics gives the hits and lookups per tier.
2. Hit path: wrk repeats one query (always a response-cache hit) against two workers, then
   a bare Starlette endpoint returns the same bytes from the same uvicorn setup.

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

import asyncpg
import httpx
import redis
from harness import WRK_SCRIPT, bare_server, database_url, ensure_wrk, seed, server, wrk

PAGE = "query Page($agency: ID, $n: Int!) { contracts(first: $n, filter: {agency: $agency}) { nodes { number finalValue signedOn supplier { name } } } }"

ZIPF_SCRIPT = """
local bodies = {%(bodies)s}
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
setup = function(thread) thread:set("seed", math.random(1, 1000000)) end
init = function() math.randomseed(seed) end
request = function()
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json"}, bodies[pick()])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT {\\"rps\\": %%.1f, \\"p50\\": %%.2f, \\"p95\\": %%.2f, \\"p99\\": %%.2f, \\"errors\\": %%d, \\"requests\\": %%d}\\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.requests))
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


def lua_strings(items: list[str]) -> str:
    return ",".join("[==[" + item + "]==]" for item in items)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--exponent", type=float, default=1.1)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    ensure_wrk()
    seed(args.contracts)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    redis.Redis.from_url(redis_url).flushdb()
    ids = asyncio.run(agencies(database_url(), args.distinct // 5 + 1))
    script = ZIPF_SCRIPT % {
        "bodies": lua_strings(bodies(ids, args.distinct, random.Random(7))),
        "exponent": args.exponent,
    }
    env = {"DATABASE_URL": database_url(), "REDIS_URL": redis_url, "RATE_LIMIT_CAPACITY": "0"}
    one = ["cidadao_gql.web.app:create_app", "--factory", "--workers", "1"]
    with server(one, env, 8711) as base:
        replay = wrk(base, PAGE, args.duration, args.connections, script)
        counts = tier_counts(httpx.get(f"{base}/metrics").text)

    hot = json.loads(bodies(ids, 1, random.Random(1))[0])
    two = ["cidadao_gql.web.app:create_app", "--factory", "--workers", "2"]
    with server(two, env, 8712) as base:
        body = httpx.post(f"{base}/graphql", json=hot).content
        fixed = WRK_SCRIPT % {"method": "POST", "body": json.dumps(hot)}
        hit = wrk(base, PAGE, 10, args.connections, fixed)
    with bare_server(body, 8713, 2) as base:
        bare = wrk(base, PAGE, 10, args.connections)

    served = counts.get("response", {"hit": 0.0, "miss": 0.0})
    total = served["hit"] + served["miss"]
    print(
        f"\nZipf {args.exponent} over {args.distinct:,} distinct queries, {replay['requests']:,.0f} requests in"
        f" {args.duration} s ({replay['rps']:.0f} req/s, P95 {replay['p95']:.1f} ms, {replay['errors']:.0f} errors)\n"
    )
    print("| tier | lookups | hits | hit ratio |")
    print("|---|---:|---:|---:|")
    for tier in ("response", "l1", "l2", "l3"):
        c = counts.get(tier, {"hit": 0.0, "miss": 0.0})
        looked = c["hit"] + c["miss"]
        ratio = c["hit"] / looked if looked else 0.0
        print(f"| {tier} | {looked:,.0f} | {c['hit']:,.0f} | {ratio:.1%} |")
    print(
        f"| **overall** (answered from a cache) | {total:,.0f} | {served['hit']:,.0f} | {served['hit'] / total:.1%} |"
    )
    print("\n| server | req/s | P50 ms | P95 ms | P99 ms | ratio to bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (("response-cache hit path", hit), ("bare Starlette, same bytes", bare)):
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rps'] / bare['rps']:.2f} |"
        )


if __name__ == "__main__":
    main()
