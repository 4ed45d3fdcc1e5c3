"""`cidadao-gql query` exporting every contract with a bulk key; then again, SIGKILLed at
random points and resumed each time, checked against SQL.

    .venv/bin/python benchmarks/export.py [--contracts N] [--kills K] [--page-size P]

Against BENCH_DATABASE_URL (the shared cgql_bench, 1,000,000 contracts: it is only read,
but for the one bulk key each run creates there with `cidadao-gql apikey create`), a
cidadao-gql server (two uvicorn workers, a Redis of its own, the rate limit on with its
defaults) is asked by the client exactly as a batch script runs it: DOCUMENT (a few fields,
the supplier and the agency of each contract), pages of P rows (1,000: a bulk key's
largest; 100 is everyone else's), one set of variables.

1. One export, timed: rows a second and the whole time.
2. The same export killed with SIGKILL at K (3) random row counts (seeded by --seed) and
   resumed each time. The output must hold every contract ID exactly once (compared with
   `SELECT id FROM contracts`), be byte for byte the first export's, and the resumed
   client's last progress line must read N/N 100%; /metrics must label every page with the
   operation's name, not `anonymous`.

Writes benchmarks/results/export.md and .json (benchmarks/readme.py puts the table in the
README's Batch exports section). Ports: BENCH_PORT + 41 (server) and + 42 (its Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import hashlib
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from harness import DEFAULT_URL, ROOT, database_url, port, seed, server_process
from record import save

DOCUMENT = """query ExportContracts($first: Int, $after: String) {
  contracts(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id number finalValue signedOn supplier { document name } agency { cnpj name } }
  }
}
"""
CAPACITY, REFILL = 100_000, 50_000  # the bulk key's bucket: points, points a second
BAR = re.compile(r"(\d+)/(\d+)")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="of the random kill points")
    return parser.parse_args()


async def contract_ids(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM contracts")]
    finally:
        await conn.close()


def ready(contracts: int) -> list[int]:
    """The ids of the database's `contracts` contracts; seeded here first only if it is not
    the shared one (seeding truncates)."""
    url = database_url()
    found = asyncio.run(contract_ids(url))
    if len(found) == contracts:
        return sorted(found)
    if url == DEFAULT_URL:
        sys.exit(f"{url} holds {len(found):,} contracts, not {contracts:,}: it is shared and not "
                 "reseeded here; give BENCH_DATABASE_URL a database of your own")  # fmt: skip
    seed(contracts)
    return sorted(asyncio.run(contract_ids(url)))


@contextmanager
def redis_server(at: int) -> Iterator[str]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(at), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", at), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{at}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def cidadao(redis: str, workers: int) -> Iterator[str]:
    """The server as deployed, the rate limit on with its defaults."""
    with tempfile.TemporaryDirectory() as samples:
        env = {"DATABASE_URL": database_url(), "REDIS_URL": redis, "LOG_LEVEL": "WARNING",
               "RUN_INVESTIGATIONS": "false", "PROMETHEUS_MULTIPROC_DIR": samples}  # fmt: skip
        app = ["cidadao_gql.web.app:create_app", "--factory", "--workers", str(workers)]
        with server_process(app, env, port(41)) as (base, _):
            yield base


def bulk_key(redis: str) -> str:
    """A key with its own allowance, made as an operator makes one."""
    made = subprocess.run(
        [sys.executable, "-m", "cidadao_gql.cli", "apikey", "create", "--user", "bench-export",
         "--capacity", str(CAPACITY), "--refill", str(REFILL)],
        env={**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": redis},
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return made.stdout.strip()


def client(base: str, key: str, out: Path, page_size: int, log: Path) -> subprocess.Popen[bytes]:
    """`cidadao-gql query` as a batch script runs it, its progress bar into `log`."""
    command = [sys.executable, "-m", "cidadao_gql.cli", "query", str(out.with_suffix(".graphql")),
               "--url", base, "--path", "contracts", "--out", str(out),
               "--page-size", str(page_size), "--token", key]  # fmt: skip
    with log.open("ab") as err:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def checkpointed(out: Path) -> int:
    """Rows the export's checkpoint accounts for (0 before its first save)."""
    try:
        rows: int = orjson.loads(out.with_name(out.name + ".checkpoint").read_bytes())["rows"]
    except (FileNotFoundError, orjson.JSONDecodeError):
        return 0
    return rows


def finished(process: subprocess.Popen[bytes]) -> None:
    if process.wait() != 0:
        sys.exit(f"the export failed ({process.returncode}); see its log")


def last_bar(log: Path) -> str:
    """The progress bar's last state: tqdm redraws it after a carriage return."""
    text = log.read_text(errors="replace")
    states = [s for s in re.split(r"[\r\n]", text) if BAR.search(s)]
    return states[-1].strip() if states else ""


def export_once(base: str, key: str, out: Path, page_size: int) -> dict[str, Any]:
    log = out.with_suffix(".log")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    finished(client(base, key, out, page_size, log))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rows = out.read_bytes().count(b"\n")
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds,
            "client_cpu_seconds": cpu, "last_bar": last_bar(log)}  # fmt: skip


def killed_and_resumed(
    base: str, key: str, out: Path, page_size: int, points: list[int], row_bytes: float
) -> dict[str, Any]:
    """The export SIGKILLed once its output holds each of `points` rows (by its size, rows
    being `row_bytes` long on average: wherever a page's writing has got to, not where the
    checkpoint was saved), then resumed (its progress bar into one log: the last state is
    the last run's)."""
    log, kills = out.with_suffix(".log"), []
    started = time.perf_counter()
    for point in points:
        process = client(base, key, out, page_size, log)
        while size(out) < point * row_bytes and process.poll() is None:
            time.sleep(0.02)
        if process.poll() is not None:
            sys.exit(f"the export ended before {point:,} rows: no kill there")
        process.send_signal(signal.SIGKILL)
        process.wait()
        lines = out.read_bytes().count(b"\n")
        kills.append({"at": point, "checkpointed": checkpointed(out), "lines_on_disk": lines})
    finished(client(base, key, out, page_size, log))
    return {"seconds": time.perf_counter() - started, "kills": kills, "last_bar": last_bar(log)}


def ids_of(out: Path) -> list[int]:
    """Each line's contract id, from its global ID (base64 of `Contract:<id>`)."""
    ids = []
    for line in out.read_bytes().splitlines():
        kind, _, pk = binascii.a2b_base64(orjson.loads(line)["id"]).partition(b":")
        assert kind == b"Contract", line
        ids.append(int(pk))
    return ids


def operations(base: str) -> dict[str, float]:
    """Requests by operation label, from /metrics (the workers flush each second)."""
    time.sleep(2)
    found: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("cidadao_ai_request_duration_seconds_count{"):
            name = re.search(r'operation="([^"]*)"', line)
            if name:
                found[name[1]] = found.get(name[1], 0) + float(line.rpartition(" ")[2])
    return found


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = arguments()
    expected = ready(args.contracts)
    n = len(expected)
    points = sorted(random.Random(args.seed).sample(range(n // 20, n - n // 20), args.kills))
    with tempfile.TemporaryDirectory() as tmp, redis_server(port(42)) as redis:
        first, second = Path(tmp) / "first.ndjson", Path(tmp) / "second.ndjson"
        for out in (first, second):
            out.with_suffix(".graphql").write_text(DOCUMENT)
        key = bulk_key(redis)
        with cidadao(redis, args.workers) as base:
            once = export_once(base, key, first, args.page_size)
            print(f"export: {once['rows']:,} rows in {once['seconds']:.1f} s", flush=True)
            row_bytes = size(first) / once["rows"]
            resumed = killed_and_resumed(base, key, second, args.page_size, points, row_bytes)
            labels = operations(base)
        ids = ids_of(second)
        checks = {
            "lines": len(ids),
            "distinct_ids": len(set(ids)),
            "ids_equal_sql": sorted(ids) == expected,
            "same_bytes_as_first": digest(first) == digest(second),
            "first_equals_sql": sorted(ids_of(first)) == expected,
            "bar_right": f"{n}/{n}" in resumed["last_bar"] and "100%" in resumed["last_bar"],
            "operations": labels,
        }
    report(args, n, once, resumed, checks)


def report(
    args: argparse.Namespace, n: int, once: dict[str, Any], resumed: dict[str, Any],
    checks: dict[str, Any],
) -> None:  # fmt: skip
    ok = all(checks[k] for k in ("ids_equal_sql", "same_bytes_as_first", "bar_right"))
    ok = ok and checks["lines"] == checks["distinct_ids"] == n
    ok = ok and checks["operations"].get("ExportContracts", 0) > 0
    kills = resumed["kills"]
    refetched = sum(k["lines_on_disk"] - k["checkpointed"] for k in kills)
    on_disk = ", ".join(f"{k['lines_on_disk']:,}" for k in kills)
    saved = ", ".join(f"{k['checkpointed']:,}" for k in kills)
    yes = {True: "yes", False: "NO"}
    operations = sorted(checks["operations"].items())
    labels = ", ".join(f"`{name}` {count:,.0f}" for name, count in operations)
    lines = [
        f"`cidadao-gql query` exporting every contract ({n:,}) with a bulk key (`--capacity "
        f"{CAPACITY} --refill {REFILL}`), pages of {args.page_size}, one variable set; server "
        f"with {args.workers} uvicorn workers, its own Redis, the rate limit on; client, "
        "server, Redis and PostgreSQL on the same machine.",
        "",
        "| run | rows | time | rows/s |",
        "|---|---:|---:|---:|",
        f"| one export | {once['rows']:,} | {once['seconds']:.1f} s "
        f"| {once['rows_per_second']:,.0f} |",
        f"| SIGKILLed {len(resumed['kills'])} times and resumed | {checks['lines']:,} | "
        f"{resumed['seconds']:.1f} s in all | {checks['lines'] / resumed['seconds']:,.0f} |",
        "",
        f"- killed at {on_disk} rows on disk (checkpointed {saved}): {refetched:,} rows asked "
        "for again in all",
        f"- after the last resume: {checks['lines']:,} lines, {checks['distinct_ids']:,} distinct "
        f"ids, equal to `SELECT id FROM contracts`: **{yes[checks['ids_equal_sql']]}**; byte for "
        f"byte the uninterrupted export: **{yes[checks['same_bytes_as_first']]}**",
        f"- the resumed client's last progress line: `{resumed['last_bar']}`",
        f"- requests in /metrics by operation: {labels} (`anonymous`: the harness's readiness "
        "probe)",
        f"- client CPU time for the one export: {once['client_cpu_seconds']:.1f} s",
    ]
    save("export", "\n".join(lines), {"rows": n, "once": once, "resumed": resumed,
                                      "checks": checks, "options": vars(args)})  # fmt: skip
    if not ok:
        sys.exit("the resumed export is wrong: see the checks above")


if __name__ == "__main__":
    main()
