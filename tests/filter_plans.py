"""Every filter × ordering of the API's lists, each with a selective and a broad value drawn
from the data, and what the statements behind one page read: rows scanned by the scan
nodes of `EXPLAIN (ANALYZE, BUFFERS)` (rows returned, plus those removed by a filter or an
index recheck, times loops) against the rows the page returned. For tests/test_filter_plans.py
and benchmarks/filters.py (issue 23)."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cidadao_gql.data import aggregates
from cidadao_gql.data import filters as list_filters
from cidadao_gql.data import sql as statements
from cidadao_gql.data.db import Database, Record
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.data.sql import Entity, PageRequest
from cidadao_gql.data.statement import Filters
from cidadao_gql.execution.compiled import Price
from cidadao_gql.execution.costs import CostAnalysis
from cidadao_gql.execution.executable_schema import build_schema
from cidadao_gql.schema.context import Context
from cidadao_gql.schema.relay import encode_id
from cidadao_gql.schema.strawberry_internals import graphql_schema
from cidadao_gql.settings import Settings

# Scan nodes: what reads rows of a table or entries of an index.
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan",
         "Tid Scan", "Tid Range Scan", "Sample Scan"}  # fmt: skip
PAGE = 20
PARENTS = 5  # a nested list's parents, as `agencies(first: 5) { contracts { … } }` has


class Recording(Database):
    """A Database that remembers the statements it sends (and sends them)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.primary, None, db.round_trips)
        self.reader = db.reader
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        self.sent.append((sql, args))
        return await super().fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.sent.append((sql, args))
        return await super().fetchval(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        self.sent.append((sql, args))
        return await super().fetchrow(sql, *args)


def rows_read(node: dict[str, Any]) -> int:
    """Rows the scan nodes of a plan (`EXPLAIN (ANALYZE, FORMAT JSON)`) read, every loop."""
    total = 0
    if node["Node Type"] in SCANS:
        per_loop = (
            node.get("Actual Rows", 0)
            + node.get("Rows Removed by Filter", 0)
            + node.get("Rows Removed by Index Recheck", 0)
        )
        total += per_loop * node.get("Actual Loops", 1)
    return total + sum(rows_read(child) for child in node.get("Plans", ()))


@dataclass(frozen=True, slots=True)
class Case:
    """One list, filter field and ordering, with one value of the filter."""

    list: str  # as the schema names it: contracts, Agency.contracts, spending(MONTH)...
    field: str  # the filter's field, in queries' dataclass (None: no filter)
    strength: str  # "selective" or "broad"
    ordering: str
    run: Callable[[Database], Awaitable[int]] = dataclasses.field(compare=False)  # rows returned

    @property
    def name(self) -> str:
        return f"{self.list} {self.field}={self.strength} {self.ordering}"


@dataclass(frozen=True, slots=True)
class Measured:
    case: Case
    returned: int
    read: int
    statements: int  # sent by the query function, its row estimate included
    ms: float  # the statements' execution and planning, from EXPLAIN ANALYZE

    @property
    def per_row(self) -> float:
        return self.read / max(self.returned, 1)


async def measure(db: Database, case: Case) -> Measured:
    recording = Recording(db)
    returned = await case.run(recording)
    read, ms = 0, 0.0
    for sql, args in recording.sent:
        if sql.startswith("EXPLAIN"):  # the row estimate: planning only, reads nothing
            continue
        text = await db.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
        plan = json.loads(text)[0]
        read += rows_read(plan["Plan"])
        ms += plan["Planning Time"] + plan["Execution Time"]
    return Measured(case, returned, read, len(recording.sent), ms)


async def timed(db: Database, case: Case, rounds: int = 3) -> float:
    """The best of `rounds` calls of the query function, in ms (estimate included)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        await case.run(db)
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def _page(entity: Entity, ordering: str, first: int = PAGE) -> PageRequest:
    """A page of the keyset's columns alone, as the compiled path asks one when a query
    reads no others: a statement that tests a clause on a column it did not select fails
    (the compiled path then answered on the ordinary path, the page read three times)."""
    order = entity.ordering(ordering)
    return PageRequest(first, order, columns=frozenset({"id", order.column}))


def _root(entity: Entity, filters: Filters, ordering: str) -> Callable[[Database], Awaitable[int]]:
    async def run(db: Database) -> int:
        return len(await statements.fetch_page(db, entity, filters, _page(entity, ordering)))

    return run


# Root lists by entity: the query field and the type of its rows' global IDs.
ROOT_FIELDS = {"contracts": "Contract", "procurements": "Procurement", "agencies": "Agency",
               "suppliers": "Supplier", "sanctions": "Sanction"}  # fmt: skip


# A relation by id of a root list's rows, where they have one.
RELATED = {"contracts": ("supplier { id }", "supplier_id"),
           "procurements": ("agency { id }", "agency_id")}  # fmt: skip


@functools.cache
def _schema() -> Any:
    return build_schema(Settings())


def _compiled(
    entity: Entity, filters: Filters, ordering: str
) -> Callable[[Database], Awaitable[int]]:
    """The root page on the compiled path, in one statement (execution/compiled/sources.py:
    the read the data layer chooses, embedded), its arguments the case's own (put where the
    plan keeps them converted), and its rows those of `sql.fetch_page`, in the same order.
    Its rows' relation by id (RELATED) is in the statement too."""

    async def run(db: Database) -> int:
        schema = _schema()
        executor = schema.compiled
        related, key = RELATED.get(entity.table, ("", "id"))
        query = f"{{ {entity.table}(first: {PAGE}) {{ nodes {{ id {related} }} }} }}"
        prepared = executor.prepare(query, {}, None)
        assert prepared is not None
        plan, variables = prepared
        analysis = CostAnalysis(graphql_schema(schema), plan.document, None, {})
        price = Price(analysis.requested(), analysis.weigh, analysis.each)
        (root,) = plan.root
        page = _page(entity, ordering)
        columns = (page.columns or frozenset()) | {key}  # the relation's key
        page = dataclasses.replace(page, columns=columns)
        price.arguments[id(root)] = (filters, page)
        context = Context(db, schema.settings, Loaders(db), None, "filter_plans")
        done = await executor.run(plan, variables, context, price)
        assert done is not None, "fell back"
        sent = getattr(db, "sent", None)
        one = sent is None or sent[-1][0].startswith("SELECT convert_to(")
        assert one or not related, "not one statement"
        plain = Database(db.primary, None, db.round_trips)
        rows = await statements.fetch_page(plain, entity, filters, _page(entity, ordering))
        kind = ROOT_FIELDS[entity.table]
        expected = [encode_id(kind, r["id"]) for r in rows[:PAGE]]
        nodes = done[0][entity.table]["nodes"]
        assert [n["id"] for n in nodes] == expected, (entity.table, ordering)
        return len(rows)

    return run


def _back(entity: Entity, filters: Filters, ordering: str) -> Callable[[Database], Awaitable[int]]:
    """The page before the last row of the first page (`last`/`before`), which a forward
    page finds first, unrecorded."""

    async def run(db: Database) -> int:
        plain = Database(db.primary, None, db.round_trips)
        rows = await statements.fetch_page(plain, entity, filters, _page(entity, ordering))
        if not rows:
            return 0
        order = entity.ordering(ordering)
        cursor = (rows[-1][order.column], rows[-1]["id"])
        page = PageRequest(PAGE, order, cursor, None, backward=True)
        return len(await statements.fetch_page(db, entity, filters, page))

    return run


def _children(
    entity: Entity, column: str, parents: list[int], filters: Filters, ordering: str
) -> Callable[[Database], Awaitable[int]]:
    async def run(db: Database) -> int:
        pages = await statements.fetch_child_pages(
            db, entity, column, parents, filters, _page(entity, ordering)
        )
        return sum(len(p) for p in pages)

    return run


def _spending(group: str, filters: Filters) -> Callable[[Database], Awaitable[int]]:
    """An aggregate reads every match: its "rows returned" are the rows it aggregates
    (counted apart, unrecorded)."""

    async def run(db: Database) -> int:
        await aggregates.fetch_spending(
            db, group, filters, aggregates.GroupPage(PAGE, "TOTAL", True)
        )
        plain = Database(db.primary, None, db.round_trips)
        return await statements.count_rows(plain, statements.CONTRACTS, filters)

    return run


CONTRACT_ORDERINGS = ("SIGNED_ON_DESC", "SIGNED_ON_ASC", "VALUE_DESC", "VALUE_ASC")
PROCUREMENT_ORDERINGS = ("PUBLISHED_AT_DESC", "VALUE_DESC", "VALUE_ASC")
PARTY_ORDERINGS = ("ID_ASC", "NAME_ASC", "NAME_DESC", "TOTAL_VALUE_DESC", "TOTAL_VALUE_ASC")
Values = dict[str, tuple[Any, Any]]  # filter field: (selective value, broad value)


async def contract_values(db: Database) -> Values:
    """For each field of list_filters.ContractWhere, a value few contracts match and one many do."""
    agencies = await db.fetch(
        "SELECT a.id, a.cnpj, count(*) AS n FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " GROUP BY 1, 2 ORDER BY 3, 1"
    )
    suppliers = await db.fetch(
        "SELECT s.id, s.document, count(*) AS n FROM contracts c"
        " JOIN suppliers s ON s.id = c.supplier_id GROUP BY 1, 2 ORDER BY 3, 1"
    )
    small_agency, big_agency = agencies[len(agencies) // 10], agencies[-1]
    small_supplier, big_supplier = suppliers[len(suppliers) // 2], suppliers[-1]
    ufs = await db.fetch("SELECT uf, count(*) FROM contracts GROUP BY 1 ORDER BY 2, 1")
    modalities = {r["modality"]: r["n"] for r in await db.fetch(
        "SELECT modality, count(*) AS n FROM contracts GROUP BY 1")}  # fmt: skip
    rarest = min(range(1, 14), key=lambda m: (modalities.get(m, 0), m))
    commonest = max(modalities, key=lambda m: modalities[m])
    span = await db.fetchrow("SELECT min(signed_on) AS low, max(signed_on) AS high FROM contracts")
    assert span is not None
    low: date = span["low"]
    high: date = span["high"]
    values = await db.fetchrow(
        """SELECT percentile_disc(0.9995) WITHIN GROUP (ORDER BY final_value) AS top,
                  percentile_disc(0.0005) WITHIN GROUP (ORDER BY final_value) AS bottom,
                  percentile_disc(0.5) WITHIN GROUP (ORDER BY final_value) AS middle
             FROM contracts"""
    )
    assert values is not None
    spheres = await db.fetch(
        "SELECT a.sphere, count(*) FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " GROUP BY 1 ORDER BY 2, 1"
    )
    towns = await db.fetch(
        "SELECT a.ibge_code, count(*) FROM contracts c JOIN agencies a ON a.id = c.agency_id"
        " WHERE a.ibge_code IS NOT NULL GROUP BY 1 ORDER BY 2, 1"
    )
    procurements = await db.fetch(
        "SELECT procurement_id AS id FROM contracts WHERE procurement_id IS NOT NULL"
        " GROUP BY 1 ORDER BY count(*), 1"
    )
    by_share = sorted(modalities, key=lambda m: (modalities[m], m))
    return {
        "agency_ids": ((small_agency["id"],), (big_agency["id"],)),
        "agency_cnpj": (small_agency["cnpj"], big_agency["cnpj"]),
        "supplier_ids": ((small_supplier["id"],), (big_supplier["id"],)),
        "supplier_document": (small_supplier["document"], big_supplier["document"]),
        "procurement_ids": ((procurements[0]["id"],), (procurements[-1]["id"],)),
        "sphere": (spheres[0]["sphere"], spheres[-1]["sphere"]),
        "ibge_code": (towns[len(towns) // 10]["ibge_code"], towns[-1]["ibge_code"]),
        "uf": (ufs[0]["uf"], ufs[-1]["uf"]),
        # the three rarest states (and an absent modality), or the two commonest
        "ufs": (tuple(r["uf"] for r in ufs[:3]), tuple(r["uf"] for r in ufs[-2:])),
        "modalities": ((rarest, *by_share[:2]), tuple(by_share[-2:])),
        "modality": (rarest, commonest),
        "signed_from": (high - timedelta(days=2), low + timedelta(days=180)),
        "signed_to": (low + timedelta(days=2), high - timedelta(days=180)),
        "value_min": (Decimal(values["top"]), Decimal(values["middle"])),
        "value_max": (Decimal(values["bottom"]), Decimal(values["middle"])),
        # A word no object has, and one that a tenth of them have.
        "search": ("helicóptero", "combustíveis"),
    }


async def procurement_values(db: Database) -> Values:
    agencies = await db.fetch(
        "SELECT a.id, a.cnpj FROM procurements p JOIN agencies a ON a.id = p.agency_id"
        " GROUP BY 1, 2 ORDER BY count(*), 1"
    )
    small, big = agencies[len(agencies) // 10], agencies[-1]

    async def extremes(column: str) -> tuple[Any, Any]:
        rows = await db.fetch(
            f"SELECT {column} AS v FROM procurements WHERE {column} IS NOT NULL"
            " GROUP BY 1 ORDER BY count(*), 1"
        )
        return rows[0]["v"], rows[-1]["v"]

    modalities = await extremes("modality")
    span = await db.fetchrow(
        "SELECT min(published_at)::date AS low, max(published_at)::date AS high FROM procurements"
    )
    assert span is not None
    values = await db.fetchrow(
        """SELECT percentile_disc(0.9995) WITHIN GROUP (ORDER BY estimated_total) AS top,
                  percentile_disc(0.0005) WITHIN GROUP (ORDER BY estimated_total) AS bottom,
                  percentile_disc(0.5) WITHIN GROUP (ORDER BY estimated_total) AS middle
             FROM procurements"""
    )
    assert values is not None
    ufs = await db.fetch(
        "SELECT uf FROM procurements WHERE uf IS NOT NULL GROUP BY 1 ORDER BY count(*), 1"
    )
    spheres = await db.fetch(
        "SELECT a.sphere FROM procurements p JOIN agencies a ON a.id = p.agency_id"
        " GROUP BY 1 ORDER BY count(*), 1"
    )
    return {
        "agency_ids": ((small["id"],), (big["id"],)),
        "agency_cnpj": (small["cnpj"], big["cnpj"]),
        "sphere": (spheres[0]["sphere"], spheres[-1]["sphere"]),
        "uf": await extremes("uf"),
        "ufs": (tuple(r["uf"] for r in ufs[:3]), tuple(r["uf"] for r in ufs[-2:])),
        "modalities": ((12 if modalities[0] != 12 else 13, modalities[0]), (6, 8)),
        "modality": (12 if modalities[0] != 12 else 13, modalities[1]),
        "status": (3, 1),  # annulled: none; published: nearly all
        "year": (span["low"].year - 1, span["high"].year),
        "published_from": (span["high"] - timedelta(days=2), span["low"] + timedelta(days=180)),
        "published_to": (span["low"] + timedelta(days=2), span["high"] - timedelta(days=180)),
        "value_min": (Decimal(values["top"]), Decimal(values["middle"])),
        "value_max": (Decimal(values["bottom"]), Decimal(values["middle"])),
        "search": ("helicóptero", "combustíveis"),
    }


async def other_values(db: Database) -> dict[str, Values]:
    sphere = await db.fetch("SELECT sphere, count(*) FROM agencies GROUP BY 1 ORDER BY 2, 1")
    uf = await db.fetch("SELECT uf, count(*) FROM agencies GROUP BY 1 ORDER BY 2, 1")
    supplier = await db.fetchval("SELECT document FROM suppliers ORDER BY id DESC LIMIT 1")
    sanctioned = await db.fetchval("SELECT supplier_document FROM sanctions ORDER BY id LIMIT 1")
    first_sanction = await db.fetchval("SELECT min(starts_on) FROM sanctions")
    return {
        "agencies": {
            "uf": (uf[0]["uf"], uf[-1]["uf"]),
            "sphere": (sphere[0]["sphere"], sphere[-1]["sphere"]),
            "search": ("inexistente", "município"),
        },
        "suppliers": {
            "document": (supplier, supplier),
            "size": ("NI", "ME"),
            # (A word a fifth of the names have: "comércio", none, had the trigram index
            # offer 334 names on 1,000,000 contracts to be rechecked for none.)
            "search": ("inexistente", "ltda"),
        },
        "sanctions": {
            "supplier_document": (sanctioned, sanctioned),
            "register": ("CNEP", "CEIS"),
            "active_on": ((first_sanction or date(2021, 1, 1)) - timedelta(days=1), date.today()),
        },
    }


def _each(values: Values) -> Iterator[tuple[str, str, Any]]:
    for name, (selective, broad) in values.items():
        yield name, "selective", selective
        yield name, "broad", broad


async def cases(db: Database, spending: bool = True, compiled: bool = False) -> list[Case]:
    """Every list's every filter field, selective and broad, under every ordering it offers
    (and the list unfiltered); with `compiled`, each root page also on the compiled path
    (its list named "LIST compiled")."""
    contract_fields = await contract_values(db)
    procurement_fields = await procurement_values(db)
    others = await other_values(db)
    agencies = [r["id"] for r in await db.fetch(
        "SELECT agency_id AS id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")]  # fmt: skip
    agencies += [r["id"] for r in await db.fetch(
        "SELECT id FROM agencies WHERE id <> $1 ORDER BY id LIMIT $2", agencies[0], PARENTS - 1)]  # fmt: skip
    suppliers = [r["id"] for r in await db.fetch(
        "SELECT supplier_id AS id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT $1",
        PARENTS)]  # fmt: skip
    procurements = [r["id"] for r in await db.fetch(
        "SELECT id FROM procurements ORDER BY id LIMIT $1", PARENTS)]  # fmt: skip
    found: list[Case] = []
    contract_filters = [("-", "-", list_filters.ContractWhere())] + [
        (name, strength, list_filters.ContractWhere(**{name: value}))
        for name, strength, value in _each(contract_fields)
    ]
    for name, strength, filters in contract_filters:
        found.append(Case("contracts", name, strength, "SIGNED_ON_DESC backward",
                          _back(statements.CONTRACTS, filters, "SIGNED_ON_DESC")))  # fmt: skip
        for ordering in CONTRACT_ORDERINGS:
            found.append(Case("contracts", name, strength, ordering,
                              _root(statements.CONTRACTS, filters, ordering)))  # fmt: skip
            if compiled:
                found.append(Case("contracts compiled", name, strength, ordering,
                                  _compiled(statements.CONTRACTS, filters, ordering)))  # fmt: skip
            for parent, column, ids in (("Agency", "agency_id", agencies),
                                        ("Supplier", "supplier_id", suppliers)):  # fmt: skip
                if name.startswith(column.removesuffix("_id")):
                    continue  # a parent's list filtered on the parent itself: no new shape
                found.append(Case(f"{parent}.contracts", name, strength, ordering,
                                  _children(statements.CONTRACTS, column, ids, filters, ordering)))  # fmt: skip
        if spending:
            for group in aggregates.SPENDING_GROUPS:
                found.append(Case(f"spending({group})", name, strength, "-",
                                  _spending(group, filters)))  # fmt: skip
    found.append(Case("Procurement.contracts", "-", "-", "SIGNED_ON_DESC", _children(
        statements.CONTRACTS, "procurement_id", procurements, list_filters.no_filters, "SIGNED_ON_DESC")))  # fmt: skip
    procurement_filters = [("-", "-", list_filters.ProcurementWhere())] + [
        (name, strength, list_filters.ProcurementWhere(**{name: value}))
        for name, strength, value in _each(procurement_fields)
    ]
    for name, strength, pfilters in procurement_filters:
        found.append(Case("procurements", name, strength, "VALUE_DESC backward",
                          _back(statements.PROCUREMENTS, pfilters, "VALUE_DESC")))  # fmt: skip
        for ordering in PROCUREMENT_ORDERINGS:
            found.append(Case("procurements", name, strength, ordering,
                              _root(statements.PROCUREMENTS, pfilters, ordering)))  # fmt: skip
            if compiled:
                found.append(Case("procurements compiled", name, strength, ordering,
                                  _compiled(statements.PROCUREMENTS, pfilters, ordering)))  # fmt: skip
            if not name.startswith("agency"):
                found.append(Case("Agency.procurements", name, strength, ordering,
                                  _children(statements.PROCUREMENTS, "agency_id", agencies,
                                            pfilters, ordering)))  # fmt: skip
    for list_name, entity, make in (
        ("agencies", statements.AGENCIES, list_filters.AgencyWhere),
        ("suppliers", statements.SUPPLIERS, list_filters.SupplierWhere),
        ("sanctions", statements.SANCTIONS, list_filters.SanctionWhere),
    ):
        orderings = ("ID_ASC",) if list_name == "sanctions" else PARTY_ORDERINGS
        for name, strength, value in [("-", "-", None), *_each(others[list_name])]:
            where = make() if value is None else make(**{name: value})
            for ordering in orderings:
                found.append(Case(list_name, name, strength, ordering,
                                  _root(entity, where, ordering)))  # fmt: skip
                if compiled:
                    found.append(Case(f"{list_name} compiled", name, strength, ordering,
                                      _compiled(entity, where, ordering)))  # fmt: skip
            found.append(Case(list_name, name, strength, f"{orderings[-1]} backward",
                              _back(entity, where, orderings[-1])))  # fmt: skip
    return found


# The filter dataclasses each list's cases cover, field by field.
COVERED = {
    "contracts": list_filters.ContractWhere,
    "procurements": list_filters.ProcurementWhere,
    "agencies": list_filters.AgencyWhere,
    "suppliers": list_filters.SupplierWhere,
    "sanctions": list_filters.SanctionWhere,
}


def uncovered(found: list[Case]) -> list[str]:
    """Fields of a filter that no case exercises, as "list.field"."""
    return [
        f"{name}.{f.name}"
        for name, kind in COVERED.items()
        for f in dataclasses.fields(kind)
        if not any(c.list == name and c.field == f.name for c in found)
    ]
