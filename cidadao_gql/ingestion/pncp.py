"""PNCP rows as our records: procurements (contratações), their items and awarded results.

A row is a flat mapping of PNCP field names to raw values: a CSV row as the sample files
have it, or an API record flattened the same way (`data.orgaoEntidade.cnpj`). Mapping a
row either gives records or raises `RowRejected` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from cidadao_gql.errors import BadValue, RowRejected
from cidadao_gql.ingestion import values
from cidadao_gql.taxids import is_valid_cnpj, is_valid_cpf, normalize_document

Row = Mapping[str, Any]
T = TypeVar("T")

_CONTROL_NUMBER = re.compile(r"^([0-9A-Z]{14})-1-(\d{6})/(\d{4})$")
_ITEMS_ENDPOINT = re.compile(r"/orgaos/([0-9A-Z]{14})/compras/(\d{4})/(\d+)/itens")
_SIZES = {"ME": "ME", "EPP": "EPP", "DEMAIS": "DEMAIS", "NÃO INFORMADO": "NI"}
_SPHERES = frozenset("FEMN")
_UF = re.compile(r"^[A-Z]{2}$")
_POWERS = frozenset("ELJN")

# The domain of values a row may hold, beyond what the tables can store (values.py): one
# place, checked as each field is read (_field). PNCP's modality codes are 1 to 13 (its
# table of modalidades; --modality takes the same); amounts and quantities are never
# negative; the days a record was published, entered, changed or awarded are not in the
# future, give or take a day of time zones and clocks. Proposal opening and closing are
# future days by nature and are not checked.
MODALITIES = range(1, 14)
_NOT_NEGATIVE = frozenset({
    "data.valorTotalEstimado", "data.valorTotalHomologado", "quantidade",
    "valorUnitarioEstimado", "valorTotal", "quantidadeHomologada", "valorUnitarioHomologado",
    "valorTotalHomologado",
})  # fmt: skip
_NOT_FUTURE = frozenset({
    "data.dataPublicacaoPncp", "data.dataInclusao", "data.dataAtualizacao", "dataResultado",
})  # fmt: skip
_FUTURE_TOLERANCE = timedelta(days=1)


# The columns no row can be mapped without. A file that lacks one is refused whole, before
# any row is read, instead of every row being rejected for the same reason.
PROCUREMENT_COLUMNS = (
    "data.numeroControlePNCP", "data.orgaoEntidade.cnpj", "data.anoCompra",
    "data.sequencialCompra", "data.orgaoEntidade.esferaId", "data.orgaoEntidade.razaoSocial",
    "data.modalidadeId", "data.objetoCompra", "data.dataPublicacaoPncp",
)  # fmt: skip
ITEM_COLUMNS = ("endpoint", "numeroItem", "descricao")
# sequencialResultado is in the key of an award: two suppliers of one item are told apart
# only by it, so without it distinct awards would merge.
AWARD_COLUMNS = (
    "niFornecedor", "nomeRazaoSocialFornecedor", "numeroControlePNCPCompra", "numeroItem",
    "sequencialResultado",
)  # fmt: skip

# Where each optional field of a record is read from, by table. A file that has none of a
# field's source columns says nothing about it (unknown, not empty): re-importing it keeps
# the value stored. Procurement metadata is kept key by key (METADATA_SOURCES).
METADATA_SOURCES = {
    "modalityName": "data.modalidadeNome",
    "statusName": "data.situacaoCompraNome",
    "disputeMode": "data.modoDisputaNome",
    "legalBasisDescription": "data.amparoLegal.descricao",
    "unitCode": "data.unidadeOrgao.codigoUnidade",
    "unitName": "data.unidadeOrgao.nomeUnidade",
    "instrument": "data.tipoInstrumentoConvocatorioNome",
    "additionalInfo": "data.informacaoComplementar",
    "sourceSystemLink": "data.linkSistemaOrigem",
    "includedAt": "data.dataInclusao",
    "updatedAt": "data.dataAtualizacao",
}
OPTIONAL_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "agencies": {
        "power": ("data.orgaoEntidade.poderId",),
        "uf": ("data.unidadeOrgao.ufSigla",),
        "municipality": ("data.unidadeOrgao.municipioNome",),
        "ibge_code": ("data.unidadeOrgao.codigoIbge",),
    },
    "procurements": {
        "number": ("data.numeroCompra",),
        "process": ("data.processo",),
        "status": ("data.situacaoCompraId",),
        "legal_basis": ("data.amparoLegal.nome",),
        "estimated_total": ("data.valorTotalEstimado",),
        "homologated_total": ("data.valorTotalHomologado",),
        "srp": ("data.srp",),
        "uf": ("data.unidadeOrgao.ufSigla",),
        "municipality": ("data.unidadeOrgao.municipioNome",),
        "opening_at": ("data.dataAberturaProposta",),
        "closing_at": ("data.dataEncerramentoProposta",),
    },
    "items": {
        "catalog_code": ("codigo_br", "catalogoCodigoItem"),
        "unit": ("unidadeMedida",),
        "quantity": ("quantidade",),
        "estimated_unit_price": ("valorUnitarioEstimado",),
        "estimated_total": ("valorTotal",),
        "material_or_service": ("materialOuServico",),
    },
    "suppliers": {
        "size": ("porteFornecedorNome",),
        "legal_nature": ("naturezaJuridicaNome",),
    },
    "awards": {
        "quantity": ("quantidadeHomologada",),
        "unit_price": ("valorUnitarioHomologado",),
        "total": ("valorTotalHomologado",),
        "awarded_on": ("dataResultado",),
        "status": ("situacaoCompraItemResultadoNome",),
    },
}


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    cnpj: str
    name: str
    sphere: str
    power: str | None
    uf: str | None
    municipality: str | None
    ibge_code: str | None


@dataclass(frozen=True, slots=True)
class ProcurementRecord:
    pncp_control_number: str
    agency_cnpj: str
    year: int
    sequence: int
    number: str | None
    process: str | None
    modality: int
    status: int | None
    legal_basis: str | None
    object: str
    estimated_total: Decimal | None
    homologated_total: Decimal | None
    srp: bool | None
    uf: str | None
    municipality: str | None
    published_at: datetime
    opening_at: datetime | None
    closing_at: datetime | None
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemRecord:
    pncp_control_number: str
    number: int
    description: str
    catalog_code: str | None
    unit: str | None
    quantity: Decimal | None
    estimated_unit_price: Decimal | None
    estimated_total: Decimal | None
    material_or_service: str | None


@dataclass(frozen=True, slots=True)
class SupplierRecord:
    document: str
    kind: str
    name: str
    size: str
    legal_nature: str | None


@dataclass(frozen=True, slots=True)
class AwardRecord:
    pncp_control_number: str
    item_number: int
    supplier_document: str
    sequence: int
    quantity: Decimal | None
    unit_price: Decimal | None
    total: Decimal | None
    awarded_on: date | None
    status: str | None


def control_number(cnpj: str, sequence: int, year: int) -> str:
    return f"{cnpj}-1-{sequence:06d}/{year}"


def _field(
    row: Row, name: str, read: Callable[[object], T | None], *, required: bool = False
) -> T | None:
    try:
        value = read(row.get(name))
        if value is not None:
            _check_domain(name, value)
    except BadValue as exc:
        raise RowRejected(f"{name}: {exc}") from None
    if value is None and required:
        raise RowRejected(f"{name}: missing")
    return value


def _check_domain(name: str, value: object) -> None:
    """BadValue for a value its column can hold but that cannot be true (MODALITIES)."""
    if name in _NOT_NEGATIVE and isinstance(value, Decimal) and value < 0:
        raise BadValue(f"{value} is negative")
    if name == "data.modalidadeId" and value not in MODALITIES:
        raise BadValue(f"unknown modality {value} (PNCP's are {MODALITIES[0]} to {MODALITIES[-1]})")
    if name in _NOT_FUTURE:
        when = value if isinstance(value, date) else values.timestamp(value)
        assert when is not None
        latest = date.today() + _FUTURE_TOLERANCE
        if (when.date() if isinstance(when, datetime) else when) > latest:
            raise BadValue(f"{value} is in the future (after {latest})")


def _required(row: Row, name: str, read: Callable[[object], T | None]) -> T:
    value = _field(row, name, read, required=True)
    assert value is not None
    return value


def _cnpj(row: Row, name: str) -> str:
    raw = _required(row, name, values.text)
    cnpj = normalize_document(raw)
    if not is_valid_cnpj(cnpj):
        raise RowRejected(f"{name}: invalid CNPJ check digits ({raw})")
    return cnpj


def map_procurement(row: Row) -> tuple[AgencyRecord, ProcurementRecord]:
    key = _required(row, "data.numeroControlePNCP", values.text)
    agency_cnpj = _cnpj(row, "data.orgaoEntidade.cnpj")
    year = _required(row, "data.anoCompra", values.small_integer)
    sequence = _required(row, "data.sequencialCompra", values.integer)
    match = _CONTROL_NUMBER.match(key)
    if not match or key != control_number(agency_cnpj, sequence, year):
        raise RowRejected(
            f"data.numeroControlePNCP: {key!r} does not agree with agency, sequence and year"
        )
    sphere = _required(row, "data.orgaoEntidade.esferaId", values.text)
    if sphere not in _SPHERES:
        raise RowRejected(f"data.orgaoEntidade.esferaId: unknown sphere {sphere!r}")
    power = _field(row, "data.orgaoEntidade.poderId", values.text)
    uf = _field(row, "data.unidadeOrgao.ufSigla", values.text)
    if uf is not None and not _UF.match(uf):
        raise RowRejected(f"data.unidadeOrgao.ufSigla: expected a two-letter UF, got {uf!r}")
    municipality = _field(row, "data.unidadeOrgao.municipioNome", values.text)
    agency = AgencyRecord(
        cnpj=agency_cnpj,
        name=_required(row, "data.orgaoEntidade.razaoSocial", values.text),
        sphere=sphere,
        power=power if power in _POWERS else None,
        uf=uf,
        municipality=municipality,
        ibge_code=_field(row, "data.unidadeOrgao.codigoIbge", values.text),
    )
    procurement = ProcurementRecord(
        pncp_control_number=key,
        agency_cnpj=agency_cnpj,
        year=year,
        sequence=sequence,
        number=_field(row, "data.numeroCompra", values.text),
        process=_field(row, "data.processo", values.text),
        modality=_required(row, "data.modalidadeId", values.small_integer),
        status=_field(row, "data.situacaoCompraId", values.small_integer),
        legal_basis=_field(row, "data.amparoLegal.nome", values.text),
        object=_required(row, "data.objetoCompra", values.text),
        estimated_total=_field(row, "data.valorTotalEstimado", values.decimal),
        homologated_total=_field(row, "data.valorTotalHomologado", values.decimal),
        srp=_field(row, "data.srp", values.boolean),
        uf=uf,
        municipality=municipality,
        published_at=_required(row, "data.dataPublicacaoPncp", values.timestamp),
        opening_at=_field(row, "data.dataAberturaProposta", values.timestamp),
        closing_at=_field(row, "data.dataEncerramentoProposta", values.timestamp),
        metadata=_procurement_metadata(row),
    )
    return agency, procurement


def _procurement_metadata(row: Row) -> dict[str, Any]:
    found = {key: _field(row, name, values.text) for key, name in METADATA_SOURCES.items()}
    return {key: value for key, value in found.items() if value is not None}


def item_control_number(row: Row) -> str:
    """Item rows carry no key; their `endpoint` URL names agency, year and sequence."""
    endpoint = _required(row, "endpoint", values.text)
    match = _ITEMS_ENDPOINT.search(endpoint)
    if not match:
        raise RowRejected(f"endpoint: cannot find agency, year and sequence in {endpoint!r}")
    cnpj, year, sequence = match.groups()
    return control_number(cnpj, int(sequence), int(year))


def map_item(row: Row) -> ItemRecord:
    material = _field(row, "materialOuServico", values.text)
    catalog = _field(row, "codigo_br", values.integer) or _field(
        row, "catalogoCodigoItem", values.text
    )
    return ItemRecord(
        pncp_control_number=item_control_number(row),
        number=_required(row, "numeroItem", values.integer),
        description=_required(row, "descricao", values.text),
        catalog_code=None if catalog is None else str(catalog),
        unit=_field(row, "unidadeMedida", values.text),
        quantity=_field(row, "quantidade", values.decimal),
        estimated_unit_price=_field(row, "valorUnitarioEstimado", values.decimal),
        estimated_total=_field(row, "valorTotal", values.decimal),
        material_or_service=material if material in ("M", "S") else None,
    )


def map_award(row: Row) -> tuple[SupplierRecord, AwardRecord]:
    raw_document = _required(row, "niFornecedor", values.text)
    document = normalize_document(raw_document)
    kind = _field(row, "tipoPessoa", values.text) or ("PF" if len(document) == 11 else "PJ")
    if kind == "PJ" and not is_valid_cnpj(document):
        raise RowRejected(f"niFornecedor: invalid CNPJ check digits ({raw_document})")
    if kind == "PF" and not is_valid_cpf(document):
        raise RowRejected(f"niFornecedor: invalid CPF check digits ({raw_document})")
    if kind not in ("PJ", "PF"):
        raise RowRejected(f"tipoPessoa: foreign or unknown supplier kind {kind!r}")
    size = _field(row, "porteFornecedorNome", values.text) or "Não Informado"
    supplier = SupplierRecord(
        document=document,
        kind=kind,
        name=_required(row, "nomeRazaoSocialFornecedor", values.text),
        size=_SIZES.get(size.upper(), "NI"),
        legal_nature=_field(row, "naturezaJuridicaNome", values.text),
    )
    award = AwardRecord(
        pncp_control_number=_required(row, "numeroControlePNCPCompra", values.text),
        item_number=_required(row, "numeroItem", values.integer),
        supplier_document=document,
        sequence=_required(row, "sequencialResultado", values.integer),
        quantity=_field(row, "quantidadeHomologada", values.decimal),
        unit_price=_field(row, "valorUnitarioHomologado", values.decimal),
        total=_field(row, "valorTotalHomologado", values.decimal),
        awarded_on=_field(row, "dataResultado", values.day),
        status=_field(row, "situacaoCompraItemResultadoNome", values.text),
    )
    return supplier, award
