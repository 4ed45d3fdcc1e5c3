"""Load 1,000,000 contracts, then time the 100-row nested page under load with wrk.

    .venv/bin/python benchmarks/nested_page.py [--contracts N] [--duration S] [--workers W]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://root@127.0.0.1/cgql_bench; the
database is created and seeded when it does not hold N contracts) and wrk
(`apt-get install wrk`). Everything runs on 127.0.0.1 and stops by itself.

Figures are ratios against a baseline measured in the same run: a bare Starlette endpoint
that returns the same bytes as the GraphQL answer, served by the same uvicorn setup.
"""

from __future__ import annotations

import argparse

import httpx
from harness import bare_server, database_url, ensure_wrk, seed, server, wrk

NESTED = """query Nested { contracts(first: 100) { edges { node {
  id number object finalValue signedOn
  supplier { id name document } agency { id name cnpj uf } } } } }"""
FLAT = """query Flat { contracts(first: 100) { edges { node {
  id number object finalValue signedOn modality uf } } } }"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ensure_wrk()
    seed(args.contracts)

    rows = []
    # The load comes from one address: a cost bucket would throttle it, and the response
    # cache would answer the repeats; both are off, to time the GraphQL path itself.
    env = {"DATABASE_URL": database_url(), "DB_POOL_SIZE": "2:10", "RATE_LIMIT_CAPACITY": "0",
           "RESPONSE_CACHE_TTL": "0", "CACHE_STRATEGY": "none"}  # fmt: skip
    app = ["cidadao_gql.app:create_app", "--factory", "--workers", str(args.workers)]
    with server(app, env, 8701) as base:
        answers = {name: httpx.post(f"{base}/graphql", json={"query": q}).content for name, q in
                   (("nested", NESTED), ("flat", FLAT))}  # fmt: skip
        for name, query in (("nested", NESTED), ("flat", FLAT)):
            rows.append(
                (f"cidadao-gql, {name} page", wrk(base, query, args.duration, args.connections))
            )
    for name in ("nested", "flat"):
        with bare_server(answers[name], 8702, args.workers) as base:
            rows.append(
                (
                    f"bare Starlette, same {name} bytes",
                    wrk(base, NESTED, args.duration, args.connections),
                )
            )

    ceiling = {
        r[0].split(", same ")[1].split()[0]: r[1]["rps"] for r in rows if r[0].startswith("bare")
    }
    print(f"\n{args.contracts:,} contracts, {args.connections} connections, {args.duration} s each,"
          f" {args.workers} uvicorn workers; answer sizes: nested {len(answers['nested']):,} B,"
          f" flat {len(answers['flat']):,} B\n")  # fmt: skip
    print("| server | req/s | P50 ms | P95 ms | P99 ms | errors | ratio to bare |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        kind = "nested" if "nested" in name else "flat"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} |"
              f" {int(r['errors'])} | {r['rps'] / ceiling[kind]:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
