"""Loading PNCP rows into PostgreSQL: map, reject what cannot be used, upsert the rest.

Upserts change only rows whose values differ, so importing the same data twice changes
nothing. Everything goes in one transaction: an import is loaded whole or not at all. It is
rolled back when a source has more rejected rows than the limit allows, and after a dry run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from cidadao_gql.errors import BadImportFile, RowRejected, TooManyRejects
from cidadao_gql.ingestion.derived import refresh_derived
from cidadao_gql.ingestion.exports import MALFORMED, CsvExport, open_export
from cidadao_gql.ingestion.pncp import (
    AWARD_COLUMNS,
    ITEM_COLUMNS,
    METADATA_SOURCES,
    OPTIONAL_SOURCES,
    PROCUREMENT_COLUMNS,
    AgencyRecord,
    AwardRecord,
    ItemRecord,
    ProcurementRecord,
    Row,
    SupplierRecord,
    map_award,
    map_item,
    map_procurement,
)
from cidadao_gql.ingestion.report import (
    UNLIMITED,
    ImportReport,
    RejectLimit,
    Rejects,
    SourceCount,
    TableCount,
)

PROCUREMENTS, ITEMS, RESULTS = "contratacoes", "itens", "resultados"
SAMPLE_FILES = {
    PROCUREMENTS: "contratacoes.csv",
    ITEMS: "itens_medicamentos.csv",
    RESULTS: "resultados.csv",
}
REQUIRED_COLUMNS = {
    PROCUREMENTS: PROCUREMENT_COLUMNS,
    ITEMS: ITEM_COLUMNS,
    RESULTS: AWARD_COLUMNS,
}


@dataclass
class _Batch:
    agencies: dict[str, AgencyRecord] = field(default_factory=dict)
    procurements: dict[str, ProcurementRecord] = field(default_factory=dict)
    items: dict[tuple[str, int], tuple[int, Row, ItemRecord]] = field(default_factory=dict)
    suppliers: dict[str, SupplierRecord] = field(default_factory=dict)
    awards: dict[tuple[str, int, int], tuple[int, Row, AwardRecord]] = field(default_factory=dict)
    # The record that first carried each natural key, by source; a later one is a duplicate.
    first: dict[tuple[str, object], int] = field(default_factory=dict)
    # The columns each source's rows have; a source not named has every column (the API).
    columns: dict[str, frozenset[str]] = field(default_factory=dict)

    def kept(self, table: str, source: str) -> set[str]:
        """The optional fields of `table` that `source` has no column for: unknown, so an
        update keeps what is stored."""
        known = self.columns.get(source)
        if known is None:
            return set()
        return {
            name for name, sources in OPTIONAL_SOURCES[table].items() if known.isdisjoint(sources)
        }

    def claim(self, source: str, key: object, number: int, what: str) -> None:
        first = self.first.setdefault((source, key), number)
        if first != number:
            raise RowRejected(f"duplicate of record {first}: the same {what}")


async def import_rows(
    conn: asyncpg.Connection,
    procurements: Iterable[tuple[int, Row]],
    items: Iterable[tuple[int, Row]],
    results: Iterable[tuple[int, Row]],
    rejects: Rejects,
    *,
    max_rejects: RejectLimit = UNLIMITED,
    dry_run: bool = False,
    columns: Mapping[str, Collection[str]] | None = None,
    before_commit: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Map every row, then load in one transaction. Raises TooManyRejects, having loaded
    nothing, when a source has more rejected rows than `max_rejects` allows; a dry run does
    everything a real one does, reports the same counts, and rolls back.

    `columns` names the columns each source's rows have (a file's header); an optional
    field none of whose columns a source has is left as stored. Without it, every column
    is taken to be there, and a missing value is an empty one.

    A row whose natural key an earlier row of the same source carried is rejected as a
    duplicate: the first one loads, and no row silently replaces another.

    `before_commit` runs once the load is done and within the limit, before the commit (and
    the rollback of a dry run): what it raises rolls the load back.
    """
    report = ImportReport(
        sources={PROCUREMENTS: SourceCount(), ITEMS: SourceCount(), RESULTS: SourceCount()}
    )
    batch = _Batch(columns={s: frozenset(c) for s, c in (columns or {}).items()})
    _map_all(batch, report, rejects, procurements, items, results)
    # Items and results are also rejected inside the transaction (their procurement or item
    # is unknown), so the limit is checked there, before the commit.
    transaction = conn.transaction()
    await transaction.start()
    try:
        report.tables["agencies"] = await _upsert_agencies(conn, batch)
        report.tables["procurements"] = await _upsert_procurements(conn, batch)
        report.tables["items"] = await _upsert_items(conn, batch, report, rejects)
        awards = await _resolve_awards(conn, batch, report, rejects)
        report.tables["suppliers"] = await _upsert_suppliers(conn, batch, awards)
        report.tables["awards"] = await _upsert_awards(conn, batch, awards)
        _check_rejects(report, max_rejects)
        awards_changed = report.tables["awards"].inserted or report.tables["awards"].updated
        if awards_changed and not dry_run:
            await refresh_derived(conn)
        before_commit()
    except BaseException:
        await transaction.rollback()
        raise
    if dry_run:
        await transaction.rollback()
    else:
        await transaction.commit()
    return report


def _check_rejects(report: ImportReport, limit: RejectLimit) -> None:
    over = [
        f"{source} {c.rejected} of {c.read} ({c.rejected / c.read:.1%})"
        for source, c in report.sources.items()
        if not limit.allows(c)
    ]
    if over:
        raise TooManyRejects(
            f"too many rejected rows: {', '.join(over)}, over the limit of {limit} per file;"
            " nothing was imported",
            limit=str(limit),
        )


def _map_all(
    batch: _Batch,
    report: ImportReport,
    rejects: Rejects,
    procurements: Iterable[tuple[int, Row]],
    items: Iterable[tuple[int, Row]],
    results: Iterable[tuple[int, Row]],
) -> None:
    for source, rows in ((PROCUREMENTS, procurements), (ITEMS, items), (RESULTS, results)):
        count = report.sources[source]
        for number, row in rows:
            count.read += 1
            try:
                _map_one(batch, source, number, row)
            except RowRejected as exc:
                count.rejected += 1
                rejects.add(source, number, str(exc), row)


def _map_one(batch: _Batch, source: str, number: int, row: Row) -> None:
    if MALFORMED in row:
        raise RowRejected(row[MALFORMED])
    if source == PROCUREMENTS:
        agency, procurement = map_procurement(row)
        key = procurement.pncp_control_number
        batch.claim(source, key, number, f"data.numeroControlePNCP {key}")
        # An agency named by several rows takes its values from the first (README, Data).
        batch.agencies.setdefault(agency.cnpj, agency)
        batch.procurements[key] = procurement
    elif source == ITEMS:
        item = map_item(row)
        item_key = (item.pncp_control_number, item.number)
        batch.claim(source, item_key, number, f"item {item.number} of {item.pncp_control_number}")
        batch.items[item_key] = (number, row, item)
    else:
        supplier, award = map_award(row)
        award_key = (award.pncp_control_number, award.item_number, award.sequence)
        batch.claim(
            source, award_key, number,
            f"result {award.sequence} of item {award.item_number} of {award.pncp_control_number}",
        )  # fmt: skip
        batch.suppliers.setdefault(supplier.document, supplier)
        batch.awards[award_key] = (number, row, award)


async def upsert(
    conn: asyncpg.Connection,
    table: str,
    key: Sequence[str],
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    *,
    keep: Collection[str] = (),
    replace_keys: Mapping[str, Sequence[str]] | None = None,
) -> TableCount:
    """Insert `rows` or update the rows whose values differ; one statement, one round trip.

    `columns` are (name, PostgreSQL type) pairs; the rows are sent as one array per column.
    An update leaves the columns in `keep` as stored; for a jsonb column in `replace_keys`,
    it replaces only those keys of the stored object, keeping the others.
    """
    if not rows:
        return TableCount()
    names = [name for name, _ in columns]
    arrays = ", ".join(
        f"${i}::{'text' if kind == 'jsonb' else kind}[]" for i, (_, kind) in enumerate(columns, 1)
    )
    selected = ", ".join(
        f"c{i}{'::jsonb' if kind == 'jsonb' else ''}" for i, (_, kind) in enumerate(columns, 1)
    )
    aliases = ", ".join(f"c{i}" for i in range(1, len(columns) + 1))
    changing = [name for name in names if name not in key and name not in keep]
    new = {name: f"EXCLUDED.{name}" for name in changing}
    extra: list[list[str]] = []
    for name, replaced in (replace_keys or {}).items():
        extra.append(list(replaced))
        new[name] = f"(({table}.{name} - ${len(columns) + len(extra)}::text[]) || EXCLUDED.{name})"
    sql = f"""
        INSERT INTO {table} ({", ".join(names)})
        SELECT {selected} FROM unnest({arrays}) AS u({aliases})
        ON CONFLICT ({", ".join(key)}) DO UPDATE
           SET {", ".join(f"{n} = {v}" for n, v in new.items())}
         WHERE ({", ".join(f"{table}.{n}" for n in new)})
               IS DISTINCT FROM ({", ".join(new.values())})
        RETURNING (xmax = 0) AS inserted"""
    json_columns = {i for i, (_, kind) in enumerate(columns) if kind == "jsonb"}
    arrays_by_column = [
        [orjson.dumps(row[i]).decode() if i in json_columns else row[i] for row in rows]
        for i in range(len(columns))
    ]
    changed = await conn.fetch(sql, *arrays_by_column, *extra)
    inserted = sum(1 for r in changed if r["inserted"])
    return TableCount(inserted, len(changed) - inserted, len(rows) - len(changed))


async def _ids(
    conn: asyncpg.Connection, table: str, column: str, keys: Iterable[str]
) -> dict[str, int]:
    rows = await conn.fetch(
        f"SELECT {column}, id FROM {table} WHERE {column} = any($1::text[])", list(keys)
    )
    return {r[column]: r["id"] for r in rows}


async def _upsert_agencies(conn: asyncpg.Connection, batch: _Batch) -> TableCount:
    columns = [
        ("cnpj", "text"), ("name", "text"), ("sphere", "text"), ("power", "text"),
        ("uf", "text"), ("municipality", "text"), ("ibge_code", "text"),
    ]  # fmt: skip
    rows = [astuple(a) for a in batch.agencies.values()]
    keep = batch.kept("agencies", PROCUREMENTS)
    return await upsert(conn, "agencies", ["cnpj"], columns, rows, keep=keep)


async def _upsert_procurements(conn: asyncpg.Connection, batch: _Batch) -> TableCount:
    agency_ids = await _ids(conn, "agencies", "cnpj", batch.agencies)
    columns = [
        ("pncp_control_number", "text"), ("agency_id", "bigint"), ("year", "smallint"),
        ("sequence", "integer"), ("number", "text"), ("process", "text"),
        ("modality", "smallint"), ("status", "smallint"), ("legal_basis", "text"),
        ("object", "text"), ("estimated_total", "numeric"), ("homologated_total", "numeric"),
        ("srp", "boolean"), ("uf", "text"), ("municipality", "text"),
        ("published_at", "timestamp"), ("opening_at", "timestamp"), ("closing_at", "timestamp"),
        ("metadata", "jsonb"),
    ]  # fmt: skip
    rows = []
    for p in batch.procurements.values():
        values = astuple(p)
        rows.append((values[0], agency_ids[p.agency_cnpj], *values[2:]))
    known = batch.columns.get(PROCUREMENTS)
    replace_keys = None
    if known is not None and not known.issuperset(METADATA_SOURCES.values()):
        # Metadata from the columns this file has; the stored keys of the others stay.
        replace_keys = {
            "metadata": [key for key, name in METADATA_SOURCES.items() if name in known]
        }
    return await upsert(
        conn, "procurements", ["pncp_control_number"], columns, rows,
        keep=batch.kept("procurements", PROCUREMENTS), replace_keys=replace_keys,
    )  # fmt: skip


async def _upsert_items(
    conn: asyncpg.Connection, batch: _Batch, report: ImportReport, rejects: Rejects
) -> TableCount:
    procurement_ids = await _ids(
        conn, "procurements", "pncp_control_number", {key for key, _ in batch.items}
    )
    columns = [
        ("procurement_id", "bigint"), ("number", "integer"), ("description", "text"),
        ("catalog_code", "text"), ("unit", "text"), ("quantity", "numeric"),
        ("estimated_unit_price", "numeric"), ("estimated_total", "numeric"),
        ("material_or_service", "text"),
    ]  # fmt: skip
    rows = []
    for (key, _), (number, row, item) in batch.items.items():
        procurement_id = procurement_ids.get(key)
        if procurement_id is None:
            report.sources[ITEMS].rejected += 1
            rejects.add(ITEMS, number, f"unknown procurement {key}", row)
            continue
        rows.append((procurement_id, *astuple(item)[1:]))
    keep = batch.kept("items", ITEMS)
    return await upsert(conn, "items", ["procurement_id", "number"], columns, rows, keep=keep)


async def _resolve_awards(
    conn: asyncpg.Connection, batch: _Batch, report: ImportReport, rejects: Rejects
) -> list[tuple[int, AwardRecord]]:
    """Awards paired with their item's id; an award of an unknown item is rejected."""
    item_rows = await conn.fetch(
        """SELECT p.pncp_control_number, i.number, i.id
             FROM items i JOIN procurements p ON p.id = i.procurement_id
            WHERE p.pncp_control_number = any($1::text[])""",
        list({key for key, _, _ in batch.awards}),
    )
    item_ids = {(r["pncp_control_number"], r["number"]): r["id"] for r in item_rows}
    resolved = []
    for (key, item_number, _), (number, row, award) in batch.awards.items():
        item_id = item_ids.get((key, item_number))
        if item_id is None:
            report.sources[RESULTS].rejected += 1
            rejects.add(RESULTS, number, f"unknown item {item_number} of procurement {key}", row)
        else:
            resolved.append((item_id, award))
    return resolved


async def _upsert_suppliers(
    conn: asyncpg.Connection, batch: _Batch, awards: list[tuple[int, AwardRecord]]
) -> TableCount:
    """Suppliers of the awards that will be loaded, and no others."""
    columns = [
        ("document", "text"), ("kind", "text"), ("name", "text"), ("size", "text"),
        ("legal_nature", "text"),
    ]  # fmt: skip
    documents = dict.fromkeys(award.supplier_document for _, award in awards)
    rows = [astuple(batch.suppliers[d]) for d in documents]
    keep = batch.kept("suppliers", RESULTS)
    return await upsert(conn, "suppliers", ["document"], columns, rows, keep=keep)


async def _upsert_awards(
    conn: asyncpg.Connection, batch: _Batch, awards: list[tuple[int, AwardRecord]]
) -> TableCount:
    supplier_ids = await _ids(
        conn, "suppliers", "document", {a.supplier_document for _, a in awards}
    )
    columns = [
        ("item_id", "bigint"), ("supplier_id", "bigint"), ("sequence", "integer"),
        ("quantity", "numeric"), ("unit_price", "numeric"), ("total", "numeric"),
        ("awarded_on", "date"), ("status", "text"),
    ]  # fmt: skip
    rows = [
        (item_id, supplier_ids[award.supplier_document], *astuple(award)[3:])
        for item_id, award in awards
    ]
    keep = batch.kept("awards", RESULTS)
    return await upsert(conn, "awards", ["item_id", "sequence"], columns, rows, keep=keep)


def open_directory(
    directory: Path, encoding: str | None = None, *, allow_empty: bool = False
) -> dict[str, CsvExport]:
    """The three PNCP files of `directory`, each with its encoding (detected unless given),
    delimiter and required columns checked, and rows after its header unless `allow_empty`;
    BadImportFile or UndecodableFile otherwise."""
    paths = {source: directory / name for source, name in SAMPLE_FILES.items()}
    missing = [_why_missing(p) for p in paths.values() if not p.exists()]
    if missing:
        raise BadImportFile(f"missing PNCP files: {', '.join(missing)}")
    odd = [str(p) for p in paths.values() if not p.is_file()]
    if odd:
        raise BadImportFile(f"not regular files: {', '.join(odd)}")
    exports = {
        source: open_export(path, REQUIRED_COLUMNS[source], encoding)
        for source, path in paths.items()
    }
    if not allow_empty:
        for export in exports.values():
            if not export.has_rows():
                raise BadImportFile(
                    f"{export.path} has a header but no rows; nothing was imported"
                    " (--allow-empty imports such files)"
                )
    return exports


def _why_missing(path: Path) -> str:
    """`path`, and why it is not there when the directory says more than its absence."""
    if path.is_symlink():
        return f"{path} (a broken symbolic link to {path.readlink()})"
    if path.parent.is_dir():
        others = [p.name for p in path.parent.iterdir() if p.name.casefold() == path.name]
        if others:
            return f"{path} (the directory has {others[0]}: names must match, case too)"
    return str(path)


def ignored_files(directory: Path) -> list[str]:
    """The CSV files of `directory` that the import does not read, by name."""
    if not directory.is_dir():
        return []
    read = set(SAMPLE_FILES.values())
    return sorted(
        p.name for p in directory.iterdir() if p.suffix.casefold() == ".csv" and p.name not in read
    )


async def import_directory(
    conn: asyncpg.Connection,
    directory: Path,
    rejects: Rejects,
    *,
    encoding: str | None = None,
    max_rejects: RejectLimit = UNLIMITED,
    dry_run: bool = False,
    allow_empty: bool = False,
) -> ImportReport:
    """Import the three PNCP sample files from `directory`."""
    exports = open_directory(directory, encoding, allow_empty=allow_empty)
    return await import_exports(conn, exports, rejects, max_rejects=max_rejects, dry_run=dry_run)


async def import_exports(
    conn: asyncpg.Connection,
    exports: Mapping[str, CsvExport],
    rejects: Rejects,
    *,
    max_rejects: RejectLimit = UNLIMITED,
    dry_run: bool = False,
    before_commit: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import opened files (open_directory), each source's columns as its header has them."""
    return await import_rows(
        conn,
        exports[PROCUREMENTS].rows(),
        exports[ITEMS].rows(),
        exports[RESULTS].rows(),
        rejects,
        max_rejects=max_rejects,
        dry_run=dry_run,
        columns={source: export.columns for source, export in exports.items()},
        before_commit=before_commit,
    )
