"""The Zipf workload of cache_zipf.py through the edge (Varnish) beside direct to the API.

    .venv/bin/python benchmarks/edge_zipf.py [--distinct N] [--duration S]

The same `--distinct` contract pages, drawn with the same Zipf exponent, sent as GET (a
shared cache keeps GETs only) by wrk for `--duration` seconds: first straight to one
uvicorn worker with Redis (its response cache answering the repeats), then through
Debian's varnishd with docker/varnish/default.vcl in front of that worker, both cold
(Redis flushed, Varnish started empty). The hit ratio of each is what answered without
executing: `x-cache: hit` direct, `X-Edge: hit` through Varnish. Writes
benchmarks/results/edge_zipf.md and .json.

Needs wrk, varnish and varnish-modules (Debian), PostgreSQL (BENCH_DATABASE_URL, seeded as
benchmarks/harness.py seeds it) and a Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/14, flushed first).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import redis
from cache_zipf import PAGE, ZIPF, agencies, arguments, bodies
from harness import LUA, ROOT, database_url, ensure_wrk, load, lua_string, port, seed, server
from record import save

VARNISH = ROOT / "docker" / "varnish"


def paths(distinct: list[str]) -> list[str]:
    """Each POST body of cache_zipf as the GET a browser or a CDN would send."""
    out = []
    for body in distinct:
        operation = json.loads(body)
        query = {"query": PAGE, "variables": json.dumps(operation["variables"])}
        out.append(f"/graphql?{urlencode(query)}")
    return out


def get_script(urls: list[str], exponent: float, hit_header: str) -> str:
    """harness.LUA sending GETs of `urls`, counting answers without `hit_header: hit` (wrk
    keeps header names as sent: uvicorn's in lower case, Varnish's as its VCL spells them)."""
    script = LUA % {
        "bodies": ", ".join(lua_string(u) for u in urls),
        "headers": "",
        "pick": ZIPF % {"exponent": exponent},
        "next_body": "local function next_body() return bodies[pick()] end",
    }
    script = script.replace(
        'wrk.format("POST", "/graphql", headers, next_body())',
        'wrk.format("GET", next_body(), headers)',
    )
    return script.replace('answer_headers["x-cache"]', f'answer_headers["{hit_header}"]')


@contextmanager
def varnish(backend: str, listen: int) -> Iterator[str]:
    """Debian's varnishd with the repository's VCL in front of `backend`."""
    binary = shutil.which("varnishd") or "/usr/sbin/varnishd"
    if not os.access(binary, os.X_OK):
        raise SystemExit("varnishd is needed: apt-get install varnish varnish-modules")
    host, backend_port = backend.removeprefix("http://").split(":")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "backends.vcl").write_text(
            f'backend api_0 {{ .host = "{host}"; .port = "{backend_port}"; }}\n'
            "sub vcl_init { new api = directors.round_robin(); api.add_backend(api_0); }\n"
        )
        # no EDGE_PURGE_TOKEN: nothing purges during the run (entrypoint.sh's file then)
        (Path(tmp) / "purge_token.vcl").write_text("sub purge_token {\n}\n")
        process = subprocess.Popen(
            [binary, "-F", "-j", "none", "-n", f"{tmp}/instance", "-a", f"127.0.0.1:{listen}",
             "-T", "none", "-s", "malloc,256m", "-p", f"vcl_path={tmp}:{VARNISH}",
             "-p", "http_gzip_support=off", "-f", str(VARNISH / "default.vcl")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{listen}"
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{base}/health/live", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    args = arguments()
    ensure_wrk()
    seed(args.contracts)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    ids = asyncio.run(agencies(database_url(), args.distinct // 5 + 1))
    urls = paths(bodies(ids, args.distinct, random.Random(7)))
    env = {"DATABASE_URL": database_url(), "REDIS_URL": redis_url, "RATE_LIMIT_CAPACITY": "0"}
    one = ["cidadao_gql.web.app:create_app", "--factory", "--workers", "1"]
    rows: dict[str, dict[str, float]] = {}
    for name, through_edge in (("direct", False), ("varnish", True)):
        redis.Redis.from_url(redis_url).flushdb()
        with server(one, env, port(23)) as base:
            for url in urls[:20]:  # a few answers checked before any load
                answer = httpx.get(f"{base}{url}", timeout=60)
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
            redis.Redis.from_url(redis_url).flushdb()  # cold, as cache_zipf
            if through_edge:
                with varnish(base, port(24)) as front:
                    script = get_script(urls, args.exponent, "X-Edge")
                    rows[name] = load(front, script, args.duration, args.connections, warmup=0)
            else:
                script = get_script(urls, args.exponent, "x-cache")
                rows[name] = load(base, script, args.duration, args.connections, warmup=0)
    report(rows, args)


def report(rows: dict[str, dict[str, float]], args: Any) -> None:
    lines = [
        f"Zipf (exponent {args.exponent}) over {args.distinct:,} distinct contract pages as "
        f"GET, one uvicorn worker with Redis, {args.duration} s each, {args.connections} "
        "connections, cold starts included; a hit is an answer that did not execute "
        "(`x-cache: hit` direct, `X-Edge: hit` through Varnish).",
        "",
        "| path | requests | req/s | hit ratio | P95 ms | HTTP errors | GraphQL errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        ratio = 1 - row["not_hits"] / row["requests"] if row["requests"] else 0.0
        lines.append(
            f"| {name} | {row['requests']:,.0f} | {row['rps']:,.0f} | {ratio:.1%} | "
            f"{row['p95']:.1f} | {row['errors']:.0f} | {row['graphql_errors']:.0f} |"
        )
    save("edge_zipf", "\n".join(lines), {"load": rows, "options": vars(args)})


if __name__ == "__main__":
    main()
