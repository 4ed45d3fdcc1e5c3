"""Dashboard and analyst queries (issue 17): the pages a transparency frontend and a batch
script ask for, each with the variables it takes from the data and the SQL its answer must
equal. tests/schema/test_dashboards.py runs them under the default cost limit; the cost
weights (cidadao_gql/schema/cost_tables.py) are calibrated so that they all fit.

Each point of issue 17 that adds a field adds the pages that use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cidadao_gql.data.db import Database
from cidadao_gql.schema.enums import Modality
from cidadao_gql.schema.relay import encode_id

Variables = dict[str, Any]
Pick = Callable[[Database], Awaitable[Variables]]
Check = Callable[[Database, Any, Variables], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Dashboard:
    name: str
    query: str
    pick: Pick
    check: Check


async def _one(db: Database, sql: str, *args: Any) -> Any:
    value = await db.fetchval(sql, *args)
    assert value is not None, sql
    return value


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _pk(global_id: str) -> int:
    from cidadao_gql.schema.relay import decode_id

    return int(decode_id(global_id)[1])


async def _contract_numbers(db: Database, where: str, *args: Any, first: int) -> list[str]:
    rows = await db.fetch(
        f"SELECT number FROM contracts t WHERE {where} ORDER BY signed_on DESC, id DESC"
        f" LIMIT {first}",
        *args,
    )
    return [r["number"] for r in rows]


async def _spending(
    db: Database, key: str, where: str, *args: Any, first: int, by_total: bool = True
) -> list[tuple[str, int, Decimal]]:
    # Months come latest first (spending's default order for MONTH and YEAR).
    order = f"sum(final_value) DESC, ({key})::text" if by_total else "1 DESC"
    rows = await db.fetch(
        f"SELECT ({key})::text AS key, count(*) AS n, sum(final_value) AS total FROM contracts t"
        f" WHERE {where} GROUP BY 1 ORDER BY {order} LIMIT {first}",
        *args,
    )
    return [(r["key"], r["n"], r["total"]) for r in rows]


def _groups(groups: dict[str, Any], key: Callable[[str], str] = str) -> list[Any]:
    return [(key(g["key"]), g["contractCount"], Decimal(g["total"])) for g in groups["nodes"]]


# -- profile pages ------------------------------------------------------------------------

AGENCY_PAGE = """query AgencyPage($agency: ID!) {
  node(id: $agency) { ... on Agency { cnpj name sphere uf municipality
    contracts(first: 20) { totalCount pageInfo { hasNextPage endCursor }
      nodes { number object finalValue signedOn supplier { name document } } }
    procurements(first: 10) { totalCount nodes { pncpControlNumber object estimatedTotal } } } }
  spending(groupBy: SUPPLIER, filter: {agency: $agency}, first: 10) { nodes { key label contractCount total } }
}"""


async def busiest_agency(db: Database) -> Variables:
    pk = await _one(
        db, "SELECT agency_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    return {"agency": encode_id("Agency", pk)}


async def check_agency_page(db: Database, data: Any, v: Variables) -> None:
    pk, agency = _pk(v["agency"]), data["node"]
    assert agency["cnpj"] == await _one(db, "SELECT cnpj FROM agencies WHERE id = $1", pk)
    contracts = agency["contracts"]
    assert contracts["totalCount"] == await _one(
        db, "SELECT count(*) FROM contracts WHERE agency_id = $1", pk
    )
    assert [c["number"] for c in contracts["nodes"]] == await _contract_numbers(
        db, "agency_id = $1", pk, first=20
    )
    assert agency["procurements"]["totalCount"] == await _one(
        db, "SELECT count(*) FROM procurements WHERE agency_id = $1", pk
    )
    expected = await _spending(db, "supplier_id", "agency_id = $1", pk, first=10)
    assert _groups(data["spending"], lambda k: str(_pk(k))) == expected


SUPPLIER_PAGE = """query SupplierPage($supplier: ID!) {
  node(id: $supplier) { ... on Supplier { document name size registeredOn
    totals { contractCount totalValue firstSignedOn lastSignedOn }
    sanctions { register startsOn endsOn authority }
    contracts(first: 20) { totalCount nodes { number finalValue signedOn agency { name uf } } }
    awards(first: 20) { totalCount nodes { unitPrice total item { description catalogCode } } } } }
}"""


async def sanctioned_supplier(db: Database) -> Variables:
    pk = await _one(
        db,
        """SELECT s.id FROM suppliers s JOIN sanctions x ON x.supplier_document = s.document
            ORDER BY (SELECT count(*) FROM contracts c WHERE c.supplier_id = s.id) DESC, s.id
            LIMIT 1""",
    )
    return {"supplier": encode_id("Supplier", pk)}


async def check_supplier_page(db: Database, data: Any, v: Variables) -> None:
    pk, supplier = _pk(v["supplier"]), data["node"]
    totals = await db.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(final_value), 0) AS total, min(signed_on) AS first,"
        " max(signed_on) AS last FROM contracts WHERE supplier_id = $1",
        pk,
    )
    assert totals is not None and totals["n"] > 0
    assert supplier["totals"]["contractCount"] == totals["n"]
    assert Decimal(supplier["totals"]["totalValue"]) == totals["total"]
    assert supplier["totals"]["firstSignedOn"] == totals["first"].isoformat()
    assert supplier["totals"]["lastSignedOn"] == totals["last"].isoformat()
    sanctions = await db.fetch(
        "SELECT starts_on FROM sanctions WHERE supplier_document = $1 ORDER BY id",
        supplier["document"],
    )
    assert sanctions and [s["startsOn"] for s in supplier["sanctions"]] == [
        r["starts_on"].isoformat() for r in sanctions
    ]
    assert supplier["contracts"]["totalCount"] == totals["n"]
    assert [c["number"] for c in supplier["contracts"]["nodes"]] == await _contract_numbers(
        db, "supplier_id = $1", pk, first=20
    )
    assert supplier["awards"]["totalCount"] == await _one(
        db, "SELECT count(*) FROM awards WHERE supplier_id = $1", pk
    )


SUPPLIER_BY_DOCUMENT = """query SupplierByDocument($document: String!) {
  suppliers(first: 1, filter: {document: $document}) {
    nodes { name kind totals { contractCount totalValue } sanctions { register startsOn } } }
  sanctions(first: 20, filter: {supplierDocument: $document}) {
    totalCount nodes { register startsOn endsOn authority reason } }
}"""


async def sanctioned_document(db: Database) -> Variables:
    supplier = await sanctioned_supplier(db)
    document = await _one(
        db, "SELECT document FROM suppliers WHERE id = $1", _pk(supplier["supplier"])
    )
    return {"document": document}


async def check_supplier_by_document(db: Database, data: Any, v: Variables) -> None:
    (supplier,) = data["suppliers"]["nodes"]
    assert supplier["totals"]["contractCount"] == await _one(
        db,
        "SELECT count(*) FROM contracts c JOIN suppliers s ON s.id = c.supplier_id"
        " WHERE s.document = $1",
        v["document"],
    )
    count = await _one(
        db, "SELECT count(*) FROM sanctions WHERE supplier_document = $1", v["document"]
    )
    assert data["sanctions"]["totalCount"] == count == len(data["sanctions"]["nodes"]) > 0


# -- drill-downs ------------------------------------------------------------------------

PROCUREMENT_DRILL_DOWN = """query ProcurementDrillDown($procurement: ID!) {
  node(id: $procurement) { ... on Procurement { pncpControlNumber object modality status
    estimatedTotal homologatedTotal publishedAt agency { name cnpj }
    items(first: 50) { totalCount nodes { number description catalogCode unit quantity
      estimatedUnitPrice awards(first: 10) { totalCount nodes {
        quantity unitPrice total supplier { name document } } } } }
    contracts(first: 10) { nodes { number finalValue supplier { name } } } } }
}"""


async def procurement_with_most_awards(db: Database) -> Variables:
    pk = await _one(
        db,
        """SELECT i.procurement_id FROM items i JOIN awards a ON a.item_id = i.id
            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""",
    )
    return {"procurement": encode_id("Procurement", pk)}


async def check_procurement_drill_down(db: Database, data: Any, v: Variables) -> None:
    pk, procurement = _pk(v["procurement"]), data["node"]
    items = procurement["items"]
    assert items["totalCount"] == await _one(
        db, "SELECT count(*) FROM items WHERE procurement_id = $1", pk
    )
    numbers = await db.fetch(
        "SELECT number FROM items WHERE procurement_id = $1 ORDER BY number, id LIMIT 50", pk
    )
    assert [i["number"] for i in items["nodes"]] == [r["number"] for r in numbers]
    awarded = await db.fetchrow(
        """SELECT count(*) AS n, sum(a.total) AS total FROM awards a
            WHERE a.item_id IN (SELECT id FROM items WHERE procurement_id = $1
                                 ORDER BY number, id LIMIT 50)""",
        pk,
    )
    assert awarded is not None and awarded["n"] > 1
    awards = [a for i in items["nodes"] for a in i["awards"]["nodes"]]
    assert sum(i["awards"]["totalCount"] for i in items["nodes"]) == awarded["n"] == len(awards)
    assert sum(Decimal(a["total"]) for a in awards if a["total"]) == awarded["total"]


AGENCIES_WITH_CONTRACTS = """query AgenciesWithContracts {
  agencies(first: 50) { totalCount nodes { name uf sphere
    contracts(first: 10) { nodes { number finalValue signedOn
      supplier { name } procurement { pncpControlNumber } } } } }
}"""


async def nothing(db: Database) -> Variables:
    return {}


async def check_agencies_with_contracts(db: Database, data: Any, v: Variables) -> None:
    agencies = await db.fetch("SELECT id, name FROM agencies ORDER BY id LIMIT 50")
    assert data["agencies"]["totalCount"] == await _one(db, "SELECT count(*) FROM agencies")
    assert [a["name"] for a in data["agencies"]["nodes"]] == [r["name"] for r in agencies]
    for row, agency in zip(agencies, data["agencies"]["nodes"], strict=True):
        assert [c["number"] for c in agency["contracts"]["nodes"]] == await _contract_numbers(
            db, "agency_id = $1", row["id"], first=10
        )


SUPPLIER_CONTRACTS_BY_VALUE = """query SupplierContractsByValue($supplier: ID!) {
  node(id: $supplier) { ... on Supplier { name
    contracts(first: 50, orderBy: {field: VALUE, direction: DESC}) { totalCount
      edges { cursor node { number finalValue signedOn agency { name } } } } } }
}"""


async def busiest_supplier(db: Database) -> Variables:
    pk = await _one(
        db, "SELECT supplier_id FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    return {"supplier": encode_id("Supplier", pk)}


async def check_supplier_contracts_by_value(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        "SELECT final_value FROM contracts WHERE supplier_id = $1"
        " ORDER BY final_value DESC, id DESC LIMIT 50",
        _pk(v["supplier"]),
    )
    edges = data["node"]["contracts"]["edges"]
    assert [Decimal(e["node"]["finalValue"]) for e in edges] == [r["final_value"] for r in rows]


PROCUREMENTS_WITH_ITEMS = """query ProcurementsWithItems($year: Int!) {
  procurements(first: 20, filter: {year: $year}) { totalCount nodes {
    pncpControlNumber object estimatedTotal agency { name }
    items(first: 20) { totalCount nodes { description unit quantity estimatedUnitPrice } } } }
}"""


async def busiest_year(db: Database) -> Variables:
    return {
        "year": await _one(
            db, "SELECT year FROM procurements GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
    }


async def check_procurements_with_items(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        """SELECT pncp_control_number AS number,
                  (SELECT count(*) FROM items i WHERE i.procurement_id = p.id) AS items
             FROM procurements p WHERE year = $1 ORDER BY published_at DESC, id DESC LIMIT 20""",
        v["year"],
    )
    assert data["procurements"]["totalCount"] == await _one(
        db, "SELECT count(*) FROM procurements WHERE year = $1", v["year"]
    )
    assert [
        (p["pncpControlNumber"], p["items"]["totalCount"]) for p in data["procurements"]["nodes"]
    ] == [(r["number"], r["items"]) for r in rows]


# -- search pages -------------------------------------------------------------------------

SEARCH = (
    "to_tsvector('portuguese_unaccent', object) @@ websearch_to_tsquery('portuguese_unaccent', $1)"
)

CONTRACT_SEARCH = """query ContractSearch($words: String!) {
  contracts(first: 20, filter: {search: $words}) { totalCount pageInfo { hasNextPage endCursor }
    nodes { number object finalValue signedOn agency { name uf } supplier { name } } }
}"""


async def common_contract_word(db: Database) -> Variables:
    word = await _one(
        db,
        "SELECT word FROM ts_stat('SELECT to_tsvector(''portuguese_unaccent'', object)"
        " FROM contracts') WHERE length(word) > 4 ORDER BY ndoc DESC, word LIMIT 1 OFFSET 3",
    )
    return {"words": word}


async def check_contract_search(db: Database, data: Any, v: Variables) -> None:
    count = await _one(db, f"SELECT count(*) FROM contracts WHERE {SEARCH}", v["words"])
    assert data["contracts"]["totalCount"] == count > 0
    assert [c["number"] for c in data["contracts"]["nodes"]] == await _contract_numbers(
        db, SEARCH, v["words"], first=20
    )


PROCUREMENT_SEARCH = """query ProcurementSearch($words: String!) {
  procurements(first: 20, filter: {search: $words}) { totalCount nodes {
    pncpControlNumber object modality estimatedTotal publishedAt agency { name uf }
    items(first: 5) { nodes { description unit estimatedUnitPrice } } } }
}"""


async def medicine_words(db: Database) -> Variables:
    return {"words": "medicamentos"}  # what the real PNCP sample buys


async def check_procurement_search(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        f"SELECT pncp_control_number FROM procurements WHERE {SEARCH}"
        " ORDER BY published_at DESC, id DESC LIMIT 20",
        v["words"],
    )
    assert data["procurements"]["totalCount"] == await _one(
        db, f"SELECT count(*) FROM procurements WHERE {SEARCH}", v["words"]
    )
    found = [p["pncpControlNumber"] for p in data["procurements"]["nodes"]]
    assert found == [r["pncp_control_number"] for r in rows] and found


NAME_MATCH = "unaccented(name) ILIKE '%' || unaccented($1) || '%'"

SUPPLIER_SEARCH = """query SupplierSearch($name: String!) {
  suppliers(first: 20, filter: {search: $name}) { totalCount nodes {
    document name size totals { contractCount totalValue } } }
}"""


async def supplier_name_word(db: Database) -> Variables:
    name = await _one(
        db,
        "SELECT name FROM suppliers WHERE id = (SELECT supplier_id FROM contracts"
        " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)",
    )
    return {"name": max(name.split(), key=len).lower()}


async def check_supplier_search(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        f"""SELECT s.document, (SELECT count(*) FROM contracts c WHERE c.supplier_id = s.id) AS n
              FROM suppliers s WHERE {NAME_MATCH} ORDER BY s.id LIMIT 20""",
        v["name"],
    )
    assert data["suppliers"]["totalCount"] == await _one(
        db, f"SELECT count(*) FROM suppliers WHERE {NAME_MATCH}", v["name"]
    )
    assert [(s["document"], s["totals"]["contractCount"]) for s in data["suppliers"]["nodes"]] == [
        (r["document"], r["n"]) for r in rows
    ]
    assert rows


AGENCY_SEARCH = """query AgencySearch($name: String!) {
  agencies(first: 20, filter: {search: $name}) { totalCount nodes {
    cnpj name sphere uf municipality contracts(first: 3) { totalCount nodes { number finalValue } } } }
}"""


async def agency_name_word(db: Database) -> Variables:
    return {"name": "municipio"}  # "MUNICÍPIO DE …": typed without the accent


async def check_agency_search(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        f"""SELECT a.cnpj, (SELECT count(*) FROM contracts c WHERE c.agency_id = a.id) AS n
              FROM agencies a WHERE {NAME_MATCH} ORDER BY a.id LIMIT 20""",
        v["name"],
    )
    assert rows
    assert [(a["cnpj"], a["contracts"]["totalCount"]) for a in data["agencies"]["nodes"]] == [
        (r["cnpj"], r["n"]) for r in rows
    ]


# -- overviews ----------------------------------------------------------------------------

SPENDING_BY_STATE = """query SpendingByState {
  spending(groupBy: UF, first: 30) { nodes { key label contractCount total } }
  agencies(first: 1) { totalCount }
  contracts(first: 1) { totalCount }
}"""


async def check_spending_by_state(db: Database, data: Any, v: Variables) -> None:
    assert _groups(data["spending"]) == await _spending(db, "coalesce(uf, '??')", "true", first=30)
    assert data["contracts"]["totalCount"] == sum(
        g["contractCount"] for g in data["spending"]["nodes"]
    )


SPENDING_BY_MONTH = """query SpendingByMonth($from: Date!, $to: Date!) {
  spending(groupBy: MONTH, filter: {signedFrom: $from, signedTo: $to}, first: 24) {
    nodes { key contractCount total } }
}"""


async def last_two_years(db: Database) -> Variables:
    last = await _one(db, "SELECT max(signed_on) FROM contracts")
    return {"from": f"{last.year - 1}-01-01", "to": f"{last.year}-12-31"}


async def check_spending_by_month(db: Database, data: Any, v: Variables) -> None:
    expected = await _spending(
        db, "to_char(signed_on, 'YYYY-MM')", "signed_on BETWEEN $1::date AND $2::date",
        _date(v["from"]), _date(v["to"]), first=24, by_total=False,
    )  # fmt: skip
    assert _groups(data["spending"]) == expected and expected


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


SPENDING_BY_MODALITY = """query SpendingByModality($uf: UF) {
  spending(groupBy: MODALITY, filter: {uf: $uf}, first: 13) { nodes { key label contractCount total } }
}"""


async def busiest_state(db: Database) -> Variables:
    return {
        "uf": await _one(
            db,
            "SELECT uf FROM contracts WHERE uf IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        )
    }


async def check_spending_by_modality(db: Database, data: Any, v: Variables) -> None:
    expected = await _spending(db, "modality", "uf = $1", v["uf"], first=13)
    found = [(str(Modality[k].value), n, t) for k, n, t in _groups(data["spending"])]
    assert found == expected and expected


SPENDING_BY_AGENCY_IN_STATE = """query SpendingByAgencyInState($uf: UF) {
  spending(groupBy: AGENCY, filter: {uf: $uf}, first: 20) { nodes { key label contractCount total } }
  agencies(first: 50, filter: {uf: $uf}) { totalCount nodes { name sphere municipality } }
}"""


async def check_spending_by_agency_in_state(db: Database, data: Any, v: Variables) -> None:
    expected = await _spending(db, "agency_id", "uf = $1", v["uf"], first=20)
    assert _groups(data["spending"], lambda k: str(_pk(k))) == expected
    assert data["agencies"]["totalCount"] == await _one(
        db, "SELECT count(*) FROM agencies WHERE uf = $1", v["uf"]
    )


TOP_SUPPLIERS = """query TopSuppliers {
  spending(groupBy: SUPPLIER, first: 50) { nodes { key label contractCount total } }
}"""


async def check_top_suppliers(db: Database, data: Any, v: Variables) -> None:
    expected = await _spending(db, "supplier_id", "true", first=50)
    assert _groups(data["spending"], lambda k: str(_pk(k))) == expected


LARGEST_CONTRACTS = """query LargestContracts($from: Date!) {
  contracts(first: 50, filter: {signedFrom: $from}, orderBy: {field: VALUE, direction: DESC}) {
    totalCount nodes { number object finalValue initialValue signedOn modality
      agency { name uf } supplier { name document } procurement { pncpControlNumber } } }
}"""


async def check_largest_contracts(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        "SELECT final_value FROM contracts WHERE signed_on >= $1::date"
        " ORDER BY final_value DESC, id DESC LIMIT 50",
        _date(v["from"]),
    )
    nodes = data["contracts"]["nodes"]
    assert [Decimal(c["finalValue"]) for c in nodes] == [r["final_value"] for r in rows] != []


DIRECT_PURCHASES = """query DirectPurchases($agency: ID!) {
  contracts(first: 50, filter: {agency: $agency, modality: DISPENSA}) {
    totalCount nodes { number object finalValue signedOn supplier { name document } } }
  spending(groupBy: MONTH, filter: {agency: $agency, modality: DISPENSA}, first: 24) {
    nodes { key contractCount total } }
}"""


async def check_direct_purchases(db: Database, data: Any, v: Variables) -> None:
    pk, dispensa = _pk(v["agency"]), Modality.DISPENSA.value
    where = "agency_id = $1 AND modality = $2"
    assert data["contracts"]["totalCount"] == await _one(
        db, f"SELECT count(*) FROM contracts WHERE {where}", pk, dispensa
    )
    assert [c["number"] for c in data["contracts"]["nodes"]] == await _contract_numbers(
        db, where, pk, dispensa, first=50
    )
    months = await db.fetch(
        f"""SELECT key, n, total FROM (
              SELECT to_char(signed_on, 'YYYY-MM') AS key, count(*) AS n, sum(final_value) AS total
                FROM contracts WHERE {where} GROUP BY 1 ORDER BY 1 DESC LIMIT 24) g ORDER BY key DESC""",
        pk,
        dispensa,
    )
    assert _groups(data["spending"]) == [(r["key"], r["n"], r["total"]) for r in months]


VALUE_BAND = """query ValueBand($uf: UF, $min: Decimal!, $max: Decimal!) {
  contracts(first: 100, filter: {uf: $uf, valueMin: $min, valueMax: $max}) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id number finalValue signedOn supplier { document name } agency { cnpj name } } }
}"""


async def state_value_band(db: Database) -> Variables:
    return {**await busiest_state(db), "min": "10000.00", "max": "1000000.00"}


async def check_value_band(db: Database, data: Any, v: Variables) -> None:
    where = "uf = $1 AND final_value BETWEEN $2 AND $3"
    args = (v["uf"], Decimal(v["min"]), Decimal(v["max"]))
    assert data["contracts"]["totalCount"] == await _one(
        db, f"SELECT count(*) FROM contracts WHERE {where}", *args
    )
    assert [c["number"] for c in data["contracts"]["nodes"]] == await _contract_numbers(
        db, where, *args, first=100
    )


# -- sanctions and investigations ------------------------------------------------------------

SANCTIONS_REGISTER = """query SanctionsRegister($on: Date!) {
  sanctions(first: 50, filter: {activeOn: $on}) { totalCount nodes {
    supplierDocument register startsOn endsOn authority
    supplier { name size totals { contractCount totalValue } } } }
}"""


async def latest_sanction(db: Database) -> Variables:
    return {"on": (await _one(db, "SELECT max(starts_on) FROM sanctions")).isoformat()}


async def check_sanctions_register(db: Database, data: Any, v: Variables) -> None:
    active = "starts_on <= $1::date AND (ends_on IS NULL OR ends_on >= $1::date)"
    rows = await db.fetch(
        f"""SELECT x.supplier_document AS document,
                   (SELECT count(*) FROM contracts c JOIN suppliers s ON s.id = c.supplier_id
                     WHERE s.document = x.supplier_document) AS n
              FROM sanctions x WHERE {active} ORDER BY x.id LIMIT 50""",
        _date(v["on"]),
    )
    assert data["sanctions"]["totalCount"] == await _one(
        db, f"SELECT count(*) FROM sanctions WHERE {active}", _date(v["on"])
    )
    found = [
        (s["supplierDocument"], s["supplier"]["totals"]["contractCount"] if s["supplier"] else 0)
        for s in data["sanctions"]["nodes"]
    ]
    assert found == [(r["document"], r["n"]) for r in rows] != []


INVESTIGATION_FINDINGS = """query InvestigationFindings($id: ID!) {
  investigation(id: $id) { status summary agents
    findings(first: 50) { totalCount nodes { agent kind severity score summary evidence
      contracts(first: 10) { number finalValue signedOn supplier { name document } agency { name } } } } }
}"""


async def check_investigation_findings(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        "SELECT kind, cardinality(contract_ids) AS n FROM findings WHERE investigation_id = $1"
        " ORDER BY score DESC, id LIMIT 50",
        uuid.UUID(v["id"]),
    )
    assert rows
    findings = data["investigation"]["findings"]
    assert findings["totalCount"] == await _one(
        db, "SELECT count(*) FROM findings WHERE investigation_id = $1", uuid.UUID(v["id"])
    )
    assert [(f["kind"], len(f["contracts"])) for f in findings["nodes"]] == [
        (r["kind"], min(r["n"], 10)) for r in rows
    ]


# -- aggregates and prices (issue 17, point 3) ----------------------------------------------

PRICE_COMPARISON = """query PriceComparison($code: String!, $unit: String!) {
  unitPrices(filter: {catalogCode: $code, unit: $unit}, first: 5) {
    nodes { catalogCode unit awardCount minPrice p25 median p75 maxPrice } }
  awards(filter: {catalogCode: $code, unit: $unit}, first: 50) {
    totalCount nodes { unitPrice quantity supplier { name } item { description } } }
}"""


async def most_awarded_item(db: Database) -> Variables:
    row = await db.fetchrow(
        """SELECT i.catalog_code, i.unit FROM awards a JOIN items i ON i.id = a.item_id
            WHERE i.catalog_code IS NOT NULL AND i.unit IS NOT NULL AND a.unit_price IS NOT NULL
            GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1"""
    )
    assert row is not None
    return {"code": row["catalog_code"], "unit": row["unit"]}


async def check_price_comparison(db: Database, data: Any, v: Variables) -> None:
    where = "i.catalog_code = $1 AND i.unit = $2"
    figures = await db.fetchrow(
        f"""SELECT count(*) AS n, min(a.unit_price) AS lo, max(a.unit_price) AS hi,
                   round(percentile_cont(0.25) WITHIN GROUP (ORDER BY a.unit_price)::numeric, 4) AS p25,
                   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.unit_price)::numeric, 4) AS p50,
                   round(percentile_cont(0.75) WITHIN GROUP (ORDER BY a.unit_price)::numeric, 4) AS p75
              FROM awards a JOIN items i ON i.id = a.item_id
             WHERE {where} AND a.unit_price IS NOT NULL""",
        v["code"],
        v["unit"],
    )
    assert figures is not None
    [summary] = data["unitPrices"]["nodes"]
    assert (summary["catalogCode"], summary["unit"]) == (v["code"], v["unit"])
    assert summary["awardCount"] == figures["n"]
    got = [Decimal(summary[k]) for k in ("minPrice", "p25", "median", "p75", "maxPrice")]
    assert got == [figures[k] for k in ("lo", "p25", "p50", "p75", "hi")]
    ids = await db.fetch(
        f"""SELECT a.unit_price FROM awards a JOIN items i ON i.id = a.item_id
             WHERE {where} ORDER BY a.id""",
        v["code"],
        v["unit"],
    )
    awards = data["awards"]
    assert awards["totalCount"] == len(ids)
    assert [_money(a["unitPrice"]) for a in awards["nodes"]] == [r["unit_price"] for r in ids[:50]]


SPENDING_BY_YEAR = """query SpendingByYear {
  spending(groupBy: YEAR, first: 10) { totalCount nodes { key contractCount total } }
  busiest: spending(groupBy: MODALITY, first: 5, orderBy: {field: COUNT, direction: DESC}) {
    nodes { key contractCount } }
}"""


async def check_spending_by_year(db: Database, data: Any, v: Variables) -> None:
    years = await db.fetch(
        """SELECT to_char(signed_on, 'YYYY') AS key, count(*) AS n, sum(final_value) AS total
             FROM contracts GROUP BY 1 ORDER BY 1 DESC"""
    )
    assert data["spending"]["totalCount"] == len(years)
    assert _groups(data["spending"]) == [(r["key"], r["n"], r["total"]) for r in years[:10]]
    modalities = await db.fetch(
        "SELECT modality, count(*) AS n FROM contracts GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
    )
    found = [(Modality[g["key"]].value, g["contractCount"]) for g in data["busiest"]["nodes"]]
    assert found == [(r["modality"], r["n"]) for r in modalities]


# -- filters, orderings and paging (issue 17, point 2) ----------------------------------------

LARGEST_SUPPLIERS_IN_STATES = """query LargestSuppliers($ufs: [UF!]!) {
  suppliers(first: 20, orderBy: {field: TOTAL_VALUE, direction: DESC}) {
    nodes { name document totals { contractCount totalValue } } }
  contracts(first: 30, filter: {ufIn: $ufs, modalityIn: [DISPENSA, INEXIGIBILIDADE]},
            orderBy: {field: VALUE, direction: DESC}) {
    totalCount nodes { number finalValue uf modality supplier { name } } }
}"""


async def two_busiest_states(db: Database) -> Variables:
    rows = await db.fetch(
        "SELECT uf FROM contracts WHERE uf IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
    )
    return {"ufs": [r["uf"] for r in rows]}


async def check_largest_suppliers_in_states(db: Database, data: Any, v: Variables) -> None:
    every = {
        r["document"]: (r["n"], r["total"])
        for r in await db.fetch(
            """SELECT s.document, count(c.id) AS n, coalesce(sum(c.final_value), 0) AS total
                 FROM suppliers s LEFT JOIN contracts c ON c.supplier_id = s.id GROUP BY s.id"""
        )
    }
    found = {
        s["document"]: (s["totals"]["contractCount"], Decimal(s["totals"]["totalValue"]))
        for s in data["suppliers"]["nodes"]
    }
    assert all(every[document] == figures for document, figures in found.items())
    largest = sorted((total for _, total in every.values()), reverse=True)[:20]
    assert [total for _, total in found.values()] == largest
    modalities = [Modality.DISPENSA.value, Modality.INEXIGIBILIDADE.value]
    where = "uf = ANY($1::text[]) AND modality = ANY($2::int[])"
    assert data["contracts"]["totalCount"] == await _one(
        db, f"SELECT count(*) FROM contracts WHERE {where}", v["ufs"], modalities
    )
    rows = await db.fetch(
        f"SELECT number FROM contracts WHERE {where} ORDER BY final_value DESC, id DESC LIMIT 30",
        v["ufs"],
        modalities,
    )
    assert [c["number"] for c in data["contracts"]["nodes"]] == [r["number"] for r in rows]


LATEST_PROCUREMENTS_BACKWARDS = """query OldestFirstPage($agency: ID!) {
  node(id: $agency) { ... on Agency { name
    procurements(last: 10, orderBy: {field: PUBLISHED_AT, direction: DESC}) {
      pageInfo { hasPreviousPage hasNextPage } nodes { pncpControlNumber publishedAt } } } }
}"""


async def check_latest_procurements_backwards(db: Database, data: Any, v: Variables) -> None:
    rows = await db.fetch(
        """SELECT pncp_control_number FROM (
             SELECT pncp_control_number, published_at, id FROM procurements WHERE agency_id = $1
              ORDER BY published_at ASC, id ASC LIMIT 10) p ORDER BY published_at DESC, id DESC""",
        _pk(v["agency"]),
    )
    page = data["node"]["procurements"]
    assert [p["pncpControlNumber"] for p in page["nodes"]] == [
        r["pncp_control_number"] for r in rows
    ]
    total = await _one(
        db, "SELECT count(*) FROM procurements WHERE agency_id = $1", _pk(v["agency"])
    )
    assert page["pageInfo"]["hasPreviousPage"] is (total > 10)


DASHBOARDS = [
    Dashboard("agency page", AGENCY_PAGE, busiest_agency, check_agency_page),
    Dashboard("supplier page", SUPPLIER_PAGE, sanctioned_supplier, check_supplier_page),
    Dashboard("supplier by document", SUPPLIER_BY_DOCUMENT, sanctioned_document, check_supplier_by_document),
    Dashboard("procurement drill-down", PROCUREMENT_DRILL_DOWN, procurement_with_most_awards, check_procurement_drill_down),
    Dashboard("agencies with contracts", AGENCIES_WITH_CONTRACTS, nothing, check_agencies_with_contracts),
    Dashboard("supplier's contracts by value", SUPPLIER_CONTRACTS_BY_VALUE, busiest_supplier, check_supplier_contracts_by_value),
    Dashboard("procurements with items", PROCUREMENTS_WITH_ITEMS, busiest_year, check_procurements_with_items),
    Dashboard("contract search", CONTRACT_SEARCH, common_contract_word, check_contract_search),
    Dashboard("procurement search", PROCUREMENT_SEARCH, medicine_words, check_procurement_search),
    Dashboard("supplier search", SUPPLIER_SEARCH, supplier_name_word, check_supplier_search),
    Dashboard("agency search", AGENCY_SEARCH, agency_name_word, check_agency_search),
    Dashboard("spending by state", SPENDING_BY_STATE, nothing, check_spending_by_state),
    Dashboard("spending by month", SPENDING_BY_MONTH, last_two_years, check_spending_by_month),
    Dashboard("spending by modality", SPENDING_BY_MODALITY, busiest_state, check_spending_by_modality),
    Dashboard("spending by agency in a state", SPENDING_BY_AGENCY_IN_STATE, busiest_state, check_spending_by_agency_in_state),
    Dashboard("top suppliers", TOP_SUPPLIERS, nothing, check_top_suppliers),
    Dashboard("largest contracts", LARGEST_CONTRACTS, last_two_years, check_largest_contracts),
    Dashboard("direct purchases of an agency", DIRECT_PURCHASES, busiest_agency, check_direct_purchases),
    Dashboard("export page: a state's value band", VALUE_BAND, state_value_band, check_value_band),
    Dashboard("sanctions register", SANCTIONS_REGISTER, latest_sanction, check_sanctions_register),
    Dashboard("investigation findings", INVESTIGATION_FINDINGS, nothing, check_investigation_findings),
    Dashboard("price comparison of one item", PRICE_COMPARISON, most_awarded_item, check_price_comparison),
    Dashboard("spending by year, busiest modalities", SPENDING_BY_YEAR, nothing, check_spending_by_year),
    Dashboard("largest suppliers; direct purchases in two states", LARGEST_SUPPLIERS_IN_STATES, two_busiest_states, check_largest_suppliers_in_states),
    Dashboard("an agency's oldest procurements, a page backwards", LATEST_PROCUREMENTS_BACKWARDS, busiest_agency, check_latest_procurements_backwards),
]  # fmt: skip
