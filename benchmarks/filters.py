"""Selective filters and orderings (issue 23): what each filter × ordering reads, and the
tail latency of a mixed workload whose variables change on every request.

    .venv/bin/python benchmarks/filters.py statements [--contracts N]
    .venv/bin/python benchmarks/filters.py load [--contracts N] [--duration S] [--connections C]

`statements`: on N contracts (1,000,000 by default; seeded when the database holds another
number), every list's every filter field with a selective and a broad value, under every
ordering it offers (tests/filter_plans.py enumerates them), each page of 20: rows read by
the scan nodes of EXPLAIN (ANALYZE, BUFFERS) per row returned, and the statements' time.

`load`: cidadao-gql with two uvicorn workers, Redis as L2 (REDIS_URL, or 127.0.0.1:6379),
rate limiting off, wrk with C connections (32) for S seconds (30) after 5 s of warm-up; each
request drawn at random from the issue's three shapes (an agency page with its contracts,
contracts above a value drawn between R$ 1 and R$ 5,000,000, spending by supplier in SP)
and three more (a date range by value, a small agency's contracts, a rare search word),
with variables drawn anew in wrk's Lua for every request, so the response cache rarely
answers. Reports P50/P95/P99.

Results: benchmarks/results/filters.json and filters.md (each mode fills its part).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from harness import ROOT, database_url, ensure_wrk, seed, server_process

sys.path.insert(0, str(ROOT))  # tests.filter_plans: the cases, shared with the tests

from cidadao_gql.data.db import open_database
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from tests.filter_plans import cases, measure, timed

RESULTS = ROOT / "benchmarks" / "results"
BOUND = 50  # the target: rows read per row returned, worst case
PORT = 18300
LUA = r"""
agencies = {%(agencies)s}
small = {%(small)s}
words = {"helicóptero", "submarino", "ambulâncias", "geradores", "calçadas", "xyzzy"}
ufs = {"AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
       "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"}
init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
local function day(offset)
  return os.date("!%%Y-%%m-%%d", os.time({year = 2021, month = 4, day = 1}) + offset * 86400)
end
local shapes = {
  function() return [[query A($uf: UF) { agencies(first: 5, filter: {uf: $uf}) { nodes { name contracts(first: 10) { nodes { number supplier { name } } } } } }]],
    string.format('{"uf": "%%s"}', ufs[math.random(#ufs)]) end,
  function() return [[query V($v: Decimal) { contracts(first: 20, filter: {valueMin: $v}) { nodes { number finalValue agency { name } } } }]],
    string.format('{"v": "%%d"}', math.random(1, 5000000)) end,
  function() return [[query S($n: Int!) { spending(groupBy: SUPPLIER, filter: {uf: SP}, first: $n) { key label total } }]],
    string.format('{"n": %%d}', math.random(5, 50)) end,
  function() local a = math.random(0, 1700) local b = a + math.random(0, 30)
    return [[query D($a: Date, $b: Date) { contracts(first: 20, filter: {signedFrom: $a, signedTo: $b}, orderBy: {field: VALUE}) { nodes { number finalValue } } }]],
    string.format('{"a": "%%s", "b": "%%s"}', day(a), day(b)) end,
  function() return [[query G($id: ID, $v: Decimal) { contracts(first: 20, filter: {agency: $id, valueMin: $v}) { nodes { number signedOn } } }]],
    string.format('{"id": "%%s", "v": "%%d"}', small[math.random(#small)], math.random(0, 100000)) end,
  function() return [[query T($q: String, $v: Decimal) { contracts(first: 20, filter: {search: $q, valueMin: $v}) { nodes { number object } } }]],
    string.format('{"q": "%%s", "v": "%%d"}', words[math.random(#words)], math.random(0, 1000)) end,
}
request = function()
  local query, variables = shapes[math.random(#shapes)]()
  local body = string.format('{"query": "%%s", "variables": %%s}', query:gsub('"', '\\"'), variables)
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT {\"rps\": %%.1f, \"p50\": %%.2f, \"p95\": %%.2f, \"p99\": %%.2f, \"errors\": %%d, \"requests\": %%d}\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors, summary.requests))
end
"""


def _settings() -> Settings:
    return Settings.from_env({**os.environ, "DATABASE_URL": database_url(),
                              "DB_STATEMENT_TIMEOUT_MS": "0", "DB_POOL_SIZE": "2"})  # fmt: skip


async def statements() -> list[dict[str, Any]]:
    rows = []
    async with open_database(_settings()) as db:
        for case in await cases(db):
            measured = await measure(db, case)
            rows.append({
                "list": case.list, "field": case.field, "strength": case.strength,
                "ordering": case.ordering, "returned": measured.returned, "read": measured.read,
                "read_per_row": round(measured.per_row, 1), "statement_ms": round(measured.ms, 2),
                "call_ms": round(await timed(db, case), 2), "statements": measured.statements,
            })  # fmt: skip
    return rows


async def _ids() -> tuple[list[str], list[str]]:
    async with open_database(_settings()) as db:
        agencies = await db.fetch("SELECT id FROM agencies ORDER BY id LIMIT 200")
        small = await db.fetch(
            "SELECT agency_id AS id FROM contracts GROUP BY 1 HAVING count(*) < 100 LIMIT 200"
        )
    return [encode_id("Agency", r["id"]) for r in agencies], [
        encode_id("Agency", r["id"]) for r in small
    ]


def load(duration: int, connections: int, workers: int) -> dict[str, Any]:
    ensure_wrk()
    agencies, small = asyncio.run(_ids())
    script = LUA % {
        "agencies": ", ".join(f'"{a}"' for a in agencies),
        "small": ", ".join(f'"{a}"' for a in small or agencies),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    env = {"DATABASE_URL": database_url(), "RATE_LIMIT_CAPACITY": "0", "LOG_LEVEL": "WARNING",
           "RUN_INVESTIGATIONS": "false",
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}  # fmt: skip
    app = ["cidadao_gql.web.app:create_app", "--factory", "--workers", str(workers)]
    with server_process(app, env, PORT) as (base, _):
        command = ["wrk", "-t2", f"-c{connections}", "--timeout", "10s", "-s", file.name]
        subprocess.run([*command, "-d5s", f"{base}/graphql"], capture_output=True, check=True)
        out = subprocess.run([*command, f"-d{duration}s", f"{base}/graphql"],
                             capture_output=True, text=True, check=True, timeout=duration + 60).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return {**result, "connections": connections, "workers": workers, "duration_s": duration}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Selective filters ({report.get('contracts', 0):,} contracts)", ""]
    if "load" in report:
        run = report["load"]
        lines += ["## Mixed workload", "",
                  "| connections | workers | req/s | P50 ms | P95 ms | P99 ms | errors |",
                  "|---|---|---|---|---|---|---|",
                  f"| {run['connections']} | {run['workers']} | {run['rps']} | {run['p50']} |"
                  f" {run['p95']} | {run['p99']} | {run['errors']} |", ""]  # fmt: skip
    if "statements" in report:
        rows = sorted(report["statements"], key=lambda r: -r["read_per_row"])
        pages = [r for r in rows if not r["list"].startswith("spending")]
        over = [r for r in pages if r["read_per_row"] > BOUND]
        lines += ["## Pages: rows read per row returned, worst first", "",
                  f"{len(pages)} filter × ordering cases (page of 20; nested lists: 5 parents);"
                  f" worst {pages[0]['read_per_row']}; {len(over)} over {BOUND}.", ""]  # fmt: skip
        lines += _table(pages, "returned", "read/row")
        lines += ["", "## Spending: rows read per contract aggregated", ""]
        lines += _table([r for r in rows if r["list"].startswith("spending")], "aggregated",
                        "read/row")  # fmt: skip
    return "\n".join(lines) + "\n"


def _table(rows: list[dict[str, Any]], returned: str, ratio: str) -> list[str]:
    return [
        f"| list | filter | value | ordering | {returned} | read | {ratio} | statements ms |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['list']} | {r['field']} | {r['strength']} | {r['ordering']} | {r['returned']}"
            f" | {r['read']} | {r['read_per_row']} | {r['statement_ms']} |"
            for r in rows
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["statements", "load"])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seed(args.contracts)
    path = RESULTS / "filters.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if report.get("contracts") != args.contracts:
        report = {}
    report["contracts"] = args.contracts
    report["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.mode == "statements":
        report["statements"] = asyncio.run(statements())
    else:
        report["load"] = load(args.duration, args.connections, args.workers)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    (RESULTS / "filters.md").write_text(markdown(report))
    print(markdown(report)[:3000])


if __name__ == "__main__":
    main()
