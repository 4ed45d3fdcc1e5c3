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
    uf: str | None = None
    modality: int | None = None
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
        sql.equal("uf", self.uf)
        sql.equal("modality", self.modality)
        sql.between("signed_on", self.signed_from, self.signed_to)
        sql.between("final_value", self.value_min, self.value_max)
        sql.text_search("object", self.search)


@dataclass(frozen=True, slots=True)
class ProcurementWhere:
    agency_ids: tuple[int, ...] = ()
    agency_cnpj: str | None = None
    uf: str | None = None
    modality: int | None = None
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
        sql.equal("uf", self.uf)
        sql.equal("modality", self.modality)
        sql.equal("status", self.status)
        sql.equal("year", self.year)
        # published_at is a timestamp: the last day counts whole.
        if self.published_from is not None:
            sql.filter(f"t.published_at >= {sql.arg(self.published_from)}::date", "published_at")
        if self.published_to is not None:
            sql.filter(f"t.published_at < {sql.arg(self.published_to)}::date + 1", "published_at")
        sql.between("estimated_total", self.value_min, self.value_max)
        sql.text_search("object", self.search)


@dataclass(frozen=True, slots=True)
class AgencyWhere:
    uf: str | None = None
    sphere: str | None = None
    search: str | None = None

    def __call__(self, sql: Sql) -> None:
        sql.equal("uf", self.uf)
        sql.equal("sphere", self.sphere)
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
