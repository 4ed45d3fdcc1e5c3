"""Selective filters and orderings (issue 23): what each filter × ordering reads, and the
tail latency of a mixed workload whose variables change on every request.

    .venv/bin/python benchmarks/filters.py statements [--contracts N]
    .venv/bin/python benchmarks/filters.py load [--contracts N] [--duration S] [--connections C]

`statements`: on N contracts (1,000,000 by default; seeded when the database holds another
number), every list's every filter field with a selective and a broad value, under every
ordering it offers (tests/filter_plans.py enumerates them), each page of 20: rows read by
the scan nodes of EXPLAIN (ANALYZE, BUFFERS) per row returned, and the statements' time.

`load`: cidadao-gql with two uvicorn workers, Redis as L2 (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/14, when it answers), rate limiting off, wrk with C connections (32)
for S seconds (30) after 5 s of warm-up; each request drawn at random from the issue's three
shapes (an agency page with its contracts, contracts above a value drawn between R$ 1 and
R$ 5,000,000, spending by supplier in SP) and three more (a date range by value, a small
agency's contracts, a rare search word), with variables drawn anew in wrk's Lua for every
request (the response cache answers those drawn again, mostly of the two shapes with few
distinct variables: spending by supplier, agencies by UF; the table says how many). Each
shape is asked once first (with the variables of EXAMPLES) and must answer without GraphQL
errors; the run counts HTTP errors, answers with GraphQL errors and response-cache hits.
Reports P50/P95/P99.

Results: benchmarks/results/filters.md and filters.json (benchmarks/record.py), by number
of contracts: each mode fills its part of its count's figures, stamped with its own date and
commit, and keeps everything else (the other mode's, and other counts'), so that
`statements --contracts 1000000` and `load --contracts 1000000` run one after the other
leave both beside the 100,000-contract ones; benchmarks/readme.py puts the tables in the
README, the largest count first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import (
    ROOT,
    check_answers,
    database_url,
    ensure_wrk,
    load,
    lua_script,
    lua_string,
    port,
    seed,
    server_process,
)
from record import RESULTS, commit, save
from suite import redis_url

sys.path.insert(0, str(ROOT))  # tests.filter_plans: the cases, shared with the tests

from cidadao_gql.data.db import open_database
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.settings import Settings
from tests.filter_plans import cases, measure, timed

BOUND = 50  # the issue's target: rows read per row returned, worst case

# The mixed workload: the issue's three shapes, then three more (tests/test_benchmarks.py
# validates them against schema.graphql).
MIXED = {
    "agencies_by_uf": "query A($uf: UF) { agencies(first: 5, filter: {uf: $uf}) { nodes { name contracts(first: 10) { nodes { number supplier { name } } } } } }",
    "value_above": "query V($v: Decimal) { contracts(first: 20, filter: {valueMin: $v}) { nodes { number finalValue agency { name } } } }",
    "spending_sp": "query S($n: Int!) { spending(groupBy: SUPPLIER, filter: {uf: SP}, first: $n) { nodes { key label total } } }",
    "date_range": "query D($a: Date, $b: Date) { contracts(first: 20, filter: {signedFrom: $a, signedTo: $b}, orderBy: {field: VALUE}) { nodes { number finalValue } } }",
    "small_agency": "query G($id: ID, $v: Decimal) { contracts(first: 20, filter: {agency: $id, valueMin: $v}) { nodes { number signedOn } } }",
    "rare_word": "query T($q: String, $v: Decimal) { contracts(first: 20, filter: {search: $q, valueMin: $v}) { nodes { number object } } }",
}
# Each shape's variables, drawn in wrk's Lua for every request (a Lua expression making
# their JSON), and one set of them (`None`: a small agency's ID) asked once before the load.
DRAWN = {
    "agencies_by_uf": """string.format('{"uf": "%s"}', ufs[math.random(#ufs)])""",
    "value_above": """string.format('{"v": "%d"}', math.random(1, 5000000))""",
    "spending_sp": """string.format('{"n": %d}', math.random(5, 50))""",
    "date_range": """(function() local a = math.random(0, 1700) local b = a + math.random(0, 30)
    return string.format('{"a": "%s", "b": "%s"}', day(a), day(b)) end)()""",
    "small_agency": """string.format('{"id": "%s", "v": "%d"}', small[math.random(#small)],
    math.random(0, 100000))""",
    "rare_word": """string.format('{"q": "%s", "v": "%d"}', words[math.random(#words)],
    math.random(0, 1000))""",
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "agencies_by_uf": {"uf": "SP"},
    "value_above": {"v": "4000000"},
    "spending_sp": {"n": 50},
    "date_range": {"a": "2021-04-01", "b": "2021-05-01"},
    "small_agency": {"id": None, "v": "0"},
    "rare_word": {"q": "xyzzy", "v": "0"},
}
NEXT_BODY = r"""
local small = {%s}
local words = {"helicóptero", "submarino", "ambulâncias", "geradores", "calçadas", "xyzzy"}
local ufs = {"AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
             "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO"}
local function day(offset)
  return os.date("!%%Y-%%m-%%d", os.time({year = 2021, month = 4, day = 1}) + offset * 86400)
end
local shapes = {
%s
}
local function next_body()
  local shape = shapes[math.random(#shapes)]
  return '{"query": ' .. shape.query .. ', "variables": ' .. shape.variables() .. '}'
end
"""


def _settings() -> Settings:
    return Settings.from_env({**os.environ, "DATABASE_URL": database_url(),
                              "DB_STATEMENT_TIMEOUT_MS": "0", "DB_POOL_SIZE": "2"})  # fmt: skip


async def statements() -> list[dict[str, Any]]:
    """Every case of tests/filter_plans.py, measured."""
    rows = []
    async with open_database(_settings()) as db:
        for case in await cases(db, compiled=True):
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


def mixed_script(small: list[str]) -> str:
    """wrk's script for the mixed workload: a shape at random, its variables drawn anew."""
    shapes = ",\n".join(
        f"  {{query = {lua_string(json.dumps(query))}, "
        f"variables = function() return {DRAWN[name]} end}}"
        for name, query in MIXED.items()
    )
    ids = ", ".join(lua_string(i) for i in small)
    return lua_script([], next_body=NEXT_BODY % (ids, shapes))


def examples(small: list[str]) -> list[str]:
    """One body of each shape, with the variables of EXAMPLES."""
    return [
        json.dumps({"query": MIXED[name], "variables": {
            key: small[0] if value is None else value for key, value in variables.items()
        }})
        for name, variables in EXAMPLES.items()
    ]  # fmt: skip


def mixed_load(duration: int, connections: int, workers: int) -> dict[str, Any]:
    ensure_wrk()
    agencies, small = asyncio.run(_ids())
    small = small or agencies
    redis = redis_url()
    env = {"DATABASE_URL": database_url(), "RATE_LIMIT_CAPACITY": "0", "LOG_LEVEL": "WARNING",
           "RUN_INVESTIGATIONS": "false", **({"REDIS_URL": redis} if redis else {})}  # fmt: skip
    app = ["cidadao_gql.web.app:create_app", "--factory", "--workers", str(workers)]
    with server_process(app, env, port(50)) as (base, _):
        check_answers(base, examples(small))
        result = load(base, mixed_script(small), duration, connections, warmup=5)
    return {**result, "connections": connections, "workers": workers, "duration_s": duration,
            "redis": redis is not None}  # fmt: skip


def stamped(part: dict[str, Any]) -> str:
    return f"measured {part['date']} at commit `{part['commit'][:10]}`"


def markdown(runs: dict[str, dict[str, Any]]) -> str:
    """Each count's figures, the largest count first."""
    counts = sorted(runs, key=int, reverse=True)
    return "\n\n".join(_count_markdown(int(n), runs[n]).rstrip() for n in counts)


def _count_markdown(contracts: int, figures: dict[str, Any]) -> str:
    lines = [f"#### {contracts:,} contracts", ""]
    if "load" in figures:
        run = figures["load"]
        hits = 1 - run["not_hits"] / max(run["requests"], 1)
        lines += [
            f"Mixed workload ({stamped(run)}): six shapes at random, their variables drawn "
            f"anew for every request; {run['workers']} uvicorn "
            f"worker{'s' if run['workers'] != 1 else ''}"
            f"{', Redis as L2' if run['redis'] else ''}; wrk, {run['connections']} "
            f"connections, {run['duration_s']} s after 5 s of warm-up.",
            "",
            "| req/s | P50 ms | P95 ms | P99 ms | HTTP errors | GraphQL errors "
            "| answered by the response cache |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {run['rps']:,.0f} | {run['p50']:.1f} | {run['p95']:.1f} | {run['p99']:.1f} | "
            f"{run['errors']:.0f} | {run['graphql_errors']:.0f} | {hits:.1%} |",
            "",
        ]
    if "statements" in figures:
        part = figures["statements"]
        rows = sorted(part["cases"], key=lambda r: -r["read_per_row"])
        pages = [r for r in rows if not r["list"].startswith("spending")]
        spending = [r for r in rows if r["list"].startswith("spending")]
        over = Counter(r["list"] for r in pages if r["read_per_row"] > BOUND)
        shown = pages[:15]
        lines += [
            f"Filter × ordering ({stamped(part)}): a page of 20 (nested lists: 5 parents), "
            f"rows read by the scan nodes of `EXPLAIN (ANALYZE, BUFFERS)` per row returned. "
            f"{len(pages)} page cases, worst {pages[0]['read_per_row']}; "
            f"{sum(over.values())} over {BOUND}"
            f"{': ' if over else ''}{', '.join(f'{n} of {k}' for k, n in over.most_common())}. "
            f"The {len(shown)} worst below, every case in `benchmarks/results/filters.json`."
            + (f" The run took {part['seconds']:,} s." if "seconds" in part else ""),
            "",
            *_table(shown, "returned", "read/row"),
            "",
            f"Spending, rows read per contract aggregated: the 5 worst of {len(spending)}.",
            "",
            *_table(spending[:5], "aggregated", "read/row"),
        ]
    return "\n".join(lines)


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
    runs = kept_runs(RESULTS / "filters.json")
    figures = runs.setdefault(str(args.contracts), {})
    stamp = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "commit": commit()["sha"], "command": sys.argv[1:]}  # fmt: skip
    if args.mode == "statements":
        started = time.monotonic()
        cases = asyncio.run(statements())
        figures["statements"] = {**stamp, "seconds": round(time.monotonic() - started),
                                 "cases": cases}  # fmt: skip
    else:
        figures["load"] = {**stamp, **mixed_load(args.duration, args.connections, args.workers)}
    save("filters", markdown(runs), {"runs": runs})


def kept_runs(path: Path) -> dict[str, dict[str, Any]]:
    """The figures of earlier runs by number of contracts (as text: JSON's keys), read
    from a results file of either layout (before 2026-12-07, one count per file)."""
    if not path.exists():
        return {}
    figures: dict[str, Any] = json.loads(path.read_text())["figures"]
    if "runs" in figures:
        runs: dict[str, dict[str, Any]] = figures["runs"]
        return runs
    count = figures.pop("contracts", None)
    return {str(count): figures} if count is not None else {}


if __name__ == "__main__":
    main()
