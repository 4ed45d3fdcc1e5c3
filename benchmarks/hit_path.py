"""The response-cache hit path for the requests clients send, against bare ceilings.

    .venv/bin/python benchmarks/hit_path.py [--duration S] [--rounds R]   # about 3 min

One hot query, the 100-row nested page (40 KB), already in the response cache of a
cidadao-gql server (two uvicorn workers, L1 only, CORS allowing the browser's origin), is
asked with wrk (32 connections) in two ways:

  - bare headers: Content-Type alone, as load generators and some scripts send it;
  - a browser's: `Accept-Encoding: br, gzip, zstd`, an `Origin`, a user agent and
    `Accept: */*`, as fetch() sends them; the answer goes out in zstd.

each beside its own ceiling: a bare Starlette endpoint, on the same uvicorn setup, that
sends exactly the bytes and headers that row's hit sends (the page uncompressed for bare
headers, the same zstd bytes, Content-Encoding, Vary and CORS headers for the browser's),
so that a ratio measures our per-request overhead, not bytes sent. All four servers are up
at once and loaded one at a time in R rounds
(3) of S seconds (10), the median round shown, so that the machine's drift spreads over
every row, each after 3 s of the same load whose figures are dropped. Each row counts HTTP
errors, answers with GraphQL errors, answers that were not cache hits, and the share of
requests the fast path answered (its own count, from /metrics). Writes
benchmarks/results/hit_path.md and .json (benchmarks/readme.py puts the table in the
README). Needs wrk and PostgreSQL (BENCH_DATABASE_URL, seeded as the other benchmarks).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from typing import Any

import httpx
from harness import (
    arguments,
    bare_server,
    check_answers,
    ensure_wrk,
    load,
    lua_script,
    median,
    port,
    seed,
)
from record import save
from suite import NESTED, cidadao, samples

ORIGIN = "https://painel.example.org"
# Each worker moves its counts into the shared samples once a second (metrics.flush): a
# scrape waits that long, so that the other worker's last second is in it.
FLUSHED = 2.0
BROWSER = {
    "Accept-Encoding": "br, gzip, zstd",
    "Origin": ORIGIN,
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Accept": "*/*",
}
KINDS: tuple[tuple[str, dict[str, str]], ...] = (  # a hit's label, the headers it is asked with
    ("bare headers", {}),
    ("a browser's headers (zstd)", BROWSER),
)
ROWS: tuple[tuple[str, str, dict[str, str]], ...] = tuple(  # label, server, headers
    row
    for kind, headers in KINDS
    for row in (
        (f"bare Starlette, the bytes and headers of a hit with {kind} (its ceiling)",
         f"ceiling {kind}", headers),
        (f"response-cache hit, {kind}", "cidadao", headers),
    )
)  # fmt: skip
# Sent by uvicorn or worked out by Starlette whatever the endpoint answers.
NOT_REPLAYED = frozenset({"date", "server", "content-length"})


def as_sent(base: str, body: str, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The bytes (still in their coding) and headers of the answer to a POST of `body` with
    `headers` and nothing else (no Accept-Encoding of httpx's own)."""
    with httpx.Client() as client:
        del client.headers["accept-encoding"]
        sent = {"content-type": "application/json", **headers}
        with client.stream("POST", f"{base}/graphql", content=body, headers=sent) as answer:
            raw = b"".join(answer.iter_raw())
            kept = {k: v for k, v in answer.headers.items() if k not in NOT_REPLAYED}
    return raw, kept


def fast_hits(base: str) -> float:
    time.sleep(FLUSHED)
    return sum(
        value
        for (name, labels), value in samples(base).items()
        if name == "cidadao_ai_response_cache_hits_total" and ("path", "fast") in labels
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0], duration=10, rounds=3)
    ensure_wrk()
    seed(args.contracts)
    body = json.dumps({"query": NESTED})
    env = {"RESPONSE_CACHE_TTL": "600", "CACHE_STRATEGY": "memory", "CORS_ORIGINS": ORIGIN}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in ROWS}
    with cidadao(env, port(31), args.workers) as (base, _), ExitStack() as ceilings:
        check_answers(base, [body])
        check_answers(base, [body], BROWSER)
        bases = {"cidadao": base}
        for offset, (kind, headers) in enumerate(KINDS):
            for _ in range(2 * args.workers):  # each worker's L1 holds its own answers
                as_hit, answer = as_sent(base, body, headers)
                if answer.get("x-cache") == "hit":
                    break
            assert answer.get("x-cache") == "hit", answer
            bare = bare_server(as_hit, port(32 + offset), args.workers, answer)
            bases[f"ceiling {kind}"] = ceilings.enter_context(bare)
        for _ in range(args.rounds):
            for label, server, headers in ROWS:
                script = lua_script([body], headers)
                load(bases[server], script, 3, args.connections, warmup=0)  # dropped
                before = fast_hits(base)
                result = load(bases[server], script, args.duration, args.connections, 0)
                result["fast_hits"] = fast_hits(base) - before
                runs[label].append(result)
    report({label: median(found) for label, found in runs.items()}, runs, args)


def report(rows: dict[str, dict[str, float]], runs: dict[str, Any], args: Any) -> None:
    lines = [
        f"The nested page (100 contracts), one hot query in the response cache; wrk, "
        f"{args.connections} connections; {args.rounds} rounds of {args.duration} s per row, "
        f"the median round shown; {args.workers} uvicorn workers per server. Each hit's "
        "ceiling sends the very bytes and headers that hit sends.",
        "",
        "| row | req/s (median) | req/s (all rounds) | P50 ms | P95 ms | P99 ms | HTTP errors "
        "| GraphQL errors | not hits | by the fast path | ratio to its ceiling |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ceiling = 0.0
    for label, server, _ in ROWS:
        r = rows[label]
        bare = server != "cidadao"
        ceiling = r["rps"] if bare else ceiling  # each ceiling's row comes before its hit's
        every = ", ".join(f"{x['rps']:.0f}" for x in runs[label])
        not_hits = "" if bare else f"{int(r['not_hits'])}"
        fast = "" if bare else f"{r['fast_hits'] / r['requests']:.1%}"
        lines.append(
            f"| {label} | {r['rps']:,.0f} | {every} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['p99']:.1f} | {int(r['errors'])} | {int(r['graphql_errors'])} | {not_hits} | {fast} | "
            f"{r['rps'] / ceiling:.2f} |"
        )
    ratio = {kind: rows[ROWS[2 * i + 1][0]]["rps"] / rows[ROWS[2 * i][0]]["rps"]
             for i, (kind, _) in enumerate(KINDS)}  # fmt: skip
    browser, plain = rows[ROWS[3][0]]["rps"], rows[ROWS[1][0]]["rps"]
    lines += [
        "",
        "(By the fast path: the server's count of fast-path hits over wrk's count of answers;"
        " answers in flight when wrk stops can take it past 100 %.)",
        "",
        f"- a browser's hit over its ceiling (the same zstd bytes and headers): "
        f"**{ratio[KINDS[1][0]]:.2f}**",
        f"- a hit with bare headers over its ceiling (the same identity bytes and headers): "
        f"**{ratio[KINDS[0][0]]:.2f}**",
        f"- a browser's hit over a hit with bare headers: **{browser / plain:.2f}**",
    ]
    save("hit_path", "\n".join(lines), {"rows": rows, "rounds": runs, "options": vars(args)})


if __name__ == "__main__":
    main()
