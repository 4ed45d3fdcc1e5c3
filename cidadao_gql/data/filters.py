"""The filters of each list, as plain frozen values that write their WHERE clauses into a
statement (`Sql`): `ContractWhere` is what the schema's `ContractFilter` input becomes;
`no_filters` for a list asked without one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cidadao_gql.data.statement import Sql


def no_filters(_: Sql) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ContractWhere:
    agency_ids: tuple[int, ...] = ()
    agency_cnpj: str | None = None
    supplier_ids: tuple[int, ...] = ()
    supplier_document: str | None = None
    procurement_ids: tuple[int, ...] = ()
    sphere: str | None = None
    ibge_code: str | None = None
    uf: str | None = None
    ufs: tuple[str, ...] = ()
    modality: int | None = None
    modalities: tuple[int, ...] = ()
    signed_from: date | None = None
    signed_to: date | None = None
    value_min: Decimal | None = None
    value_max: Decimal | None = None
    search: str | None = None

    def __call__(self, sql: Sql) -> None:
        sql.any_of("agency_id", self.agency_ids)
        sql.keyed("agency_id", "agencies", "cnpj", self.agency_cnpj)
        sql.any_of("supplier_id", self.supplier_ids)
        sql.keyed("supplier_id", "suppliers", "document", self.supplier_document)
        sql.any_of("procurement_id", self.procurement_ids)
        sql.among("agency_id", "agencies", "sphere", self.sphere)
        sql.among("agency_id", "agencies", "ibge_code", self.ibge_code)
        sql.equal("uf", self.uf, closed=True)
        sql.any_value("uf", self.ufs, "bpchar")
        sql.equal("modality", self.modality, closed=True)
        sql.any_value("modality", self.modalities, "smallint")
        sql.between("signed_on", self.signed_from, self.signed_to)
        sql.between("final_value", self.value_min, self.value_max)
        sql.text_search("object", self.search)


@dataclass(frozen=True, slots=True)
class ProcurementWhere:
    agency_ids: tuple[int, ...] = ()
    agency_cnpj: str | None = None
    sphere: str | None = None
    uf: str | None = None
    ufs: tuple[str, ...] = ()
    modality: int | None = None
    modalities: tuple[int, ...] = ()
    status: int | None = None
    year: int | None = None
    published_from: date | None = None
    published_to: date | None = None
    value_min: Decimal | None = None
    value_max: Decimal | None = None
    search: str | None = None

    def __call__(self, sql: Sql) -> None:
        sql.any_of("agency_id", self.agency_ids)
        sql.keyed("agency_id", "agencies", "cnpj", self.agency_cnpj)
        sql.among("agency_id", "agencies", "sphere", self.sphere)
        sql.equal("uf", self.uf, closed=True)
        sql.any_value("uf", self.ufs, "bpchar")
        sql.equal("modality", self.modality, closed=True)
        sql.any_value("modality", self.modalities, "smallint")
        sql.equal("status", self.status, closed=True)
        sql.equal("year", self.year)
        # published_at is a timestamp: the last day counts whole.
        if self.published_from is not None:
            sql.filter(f"t.published_at >= {sql.arg(self.published_from)}::date", "published_at")
        if self.published_to is not None:
            sql.filter(f"t.published_at < {sql.arg(self.published_to)}::date + 1", "published_at")
        # On the column the VALUE ordering walks, so that its index serves the range (on
        # estimated_total, "below the median, largest first" walked half the table for 21).
        sql.between("estimated_or_zero", self.value_min, self.value_max)
        if self.value_min is not None or self.value_max is not None:
            sql.filter("t.estimated_total IS NOT NULL", "estimated_or_zero")
        sql.text_search("object", self.search)


@dataclass(frozen=True, slots=True)
class AgencyWhere:
    uf: str | None = None
    sphere: str | None = None
    search: str | None = None

    def __call__(self, sql: Sql) -> None:
        sql.equal("uf", self.uf, closed=True)
        sql.equal("sphere", self.sphere, closed=True)
        sql.contains("name", self.search)


@dataclass(frozen=True, slots=True)
class SupplierWhere:
    document: str | None = None
    size: str | None = None
    search: str | None = None

    def __call__(self, sql: Sql) -> None:
        sql.equal("document", self.document)
        sql.equal("size", self.size)
        sql.contains("name", self.search)


@dataclass(frozen=True, slots=True)
class SanctionWhere:
    supplier_document: str | None = None
    register: str | None = None
    active_on: date | None = None

    def __call__(self, sql: Sql) -> None:
        sql.equal("supplier_document", self.supplier_document)
        sql.equal("register", self.register)
        if self.active_on is not None:
            on = sql.arg(self.active_on)
            sql.filter(f"t.starts_on <= {on} AND (t.ends_on IS NULL OR t.ends_on >= {on})")


def _item_clauses(
    sql: Sql, alias: str, catalog_code: str | None, unit: str | None, agency_ids: tuple[int, ...]
) -> list[str]:
    """An item's catalog code, unit and agency (its procurement's) as conditions on `alias`."""
    found = []
    if catalog_code is not None:
        found.append(f"{alias}.catalog_code = {sql.arg(catalog_code)}")
    if unit is not None:
        found.append(f"{alias}.unit = {sql.arg(unit)}")
    if agency_ids:
        found.append(
            f"{alias}.procurement_id IN (SELECT p.id FROM procurements p"
            f" WHERE p.agency_id = any({sql.arg(list(agency_ids))}::bigint[]))"
        )
    return found


@dataclass(frozen=True, slots=True)
class ItemWhere:
    catalog_code: str | None = None
    unit: str | None = None
    procurement_ids: tuple[int, ...] = ()
    agency_ids: tuple[int, ...] = ()

    def __call__(self, sql: Sql) -> None:
        sql.equal("catalog_code", self.catalog_code)
        sql.equal("unit", self.unit)
        sql.any_of("procurement_id", self.procurement_ids)
        if self.agency_ids:
            (clause,) = _item_clauses(sql, "t", None, None, self.agency_ids)
            arg = f"${len(sql.args)}"
            # A walk's rows tested one by one (Clause.tested): as a semi-join PostgreSQL
            # hashed the agency's items and gave a page near its end out of order.
            tested = "(SELECT p.agency_id FROM procurements p WHERE p.id = t.procurement_id)"
            sql.filter(clause, "procurement_id", tested=f"{tested} = any({arg}::bigint[])")


@dataclass(frozen=True, slots=True)
class AwardWhere:
    """Awards by their item's catalog code, unit, procurement or agency (one semi-join on
    items, whose (catalog_code, unit, id) index finds them), supplier and date."""

    catalog_code: str | None = None
    unit: str | None = None
    procurement_ids: tuple[int, ...] = ()
    agency_ids: tuple[int, ...] = ()
    supplier_ids: tuple[int, ...] = ()
    awarded_from: date | None = None
    awarded_to: date | None = None

    def __call__(self, sql: Sql) -> None:
        items = _item_clauses(sql, "i", self.catalog_code, self.unit, self.agency_ids)
        if self.procurement_ids:
            items.append(f"i.procurement_id = any({sql.arg(list(self.procurement_ids))}::bigint[])")
        if items:
            where = " AND ".join(items)
            sql.filter(f"t.item_id IN (SELECT i.id FROM items i WHERE {where})", "item_id",
                       tested=f"coalesce((SELECT {where} FROM items i WHERE i.id = t.item_id),"
                              " false)")  # fmt: skip
        sql.any_of("supplier_id", self.supplier_ids)
        sql.between("awarded_on", self.awarded_from, self.awarded_to)


@dataclass(frozen=True, slots=True)
class UnitPriceWhere:
    """A code, or a code and a unit, is one clause on the code: its groups are a range of
    the (catalog_code, id) index whatever the unit (a group per unit). A unit alone walks
    the summary (a row per code and unit) by id."""

    catalog_code: str | None = None
    unit: str | None = None

    def __call__(self, sql: Sql) -> None:
        clauses = _item_clauses(sql, "t", self.catalog_code, self.unit, ())
        if clauses:
            column = "unit" if self.catalog_code is None else "catalog_code"
            sql.filter(" AND ".join(clauses), column, equality=True)
