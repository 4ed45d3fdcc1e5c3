"""`cidadao-gql import pncp`: real data from the PNCP's CSV exports or its APIs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import asyncpg
import click
import httpx

from cidadao_gql.cli.commands import _connect, _invalidate, _run, _settings, main
from cidadao_gql.errors import BadImportFile, DatabaseFailed, TooManyRejects
from cidadao_gql.ingestion.exports import CsvExport, check_encoding
from cidadao_gql.ingestion.importer import (
    ignored_files,
    import_exports,
    import_rows,
    open_directory,
)
from cidadao_gql.ingestion.pncp_api import ALL_MODALITIES, DEFAULT_BASE_URL, PncpClient, fetch_rows
from cidadao_gql.ingestion.report import ImportReport, RejectLimit, Rejects
from cidadao_gql.migrations import migrate, pending_migrations


@main.group("import")
def import_() -> None:
    """Load real data."""


class _RejectLimitType(click.ParamType[RejectLimit, "str | RejectLimit"]):
    name = "ROWS|PERCENT%"

    def convert(
        self, value: str | RejectLimit, param: click.Parameter | None, ctx: click.Context | None
    ) -> RejectLimit:
        if isinstance(value, RejectLimit):
            return value
        try:
            return RejectLimit.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _encoding(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            check_encoding(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@import_.command("pncp")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--api", is_flag=True, help="Pull from the PNCP APIs instead of files.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First publication day.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last publication day.")
@click.option("--modality", "modalities", type=click.IntRange(1, 13), multiple=True,
              help="PNCP modality code (repeatable); all by default.")  # fmt: skip
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True)
@click.option("--encoding", callback=_encoding,
              help="The files' encoding, e.g. latin-1. Default: detected per file, UTF-8 "
                   "else Windows-1252.")  # fmt: skip
@click.option("--max-rejects", type=_RejectLimitType(), default="1%", show_default=True,
              help="Rejected rows a file may have, as rows (10) or a share of its rows (1%); "
                   "more fails the import, which then loads nothing.")  # fmt: skip
@click.option("--dry-run", is_flag=True,
              help="Read and check everything, report what would be loaded and rejected, "
                   "write nothing.")  # fmt: skip
@click.option("--allow-empty", is_flag=True,
              help="Import files that have a header but no rows; without it, such a file "
                   "fails the import (exit 2).")  # fmt: skip
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where rejected rows go, with reasons. Default: pncp.rejects.csv; a dry "
                   "run writes them only when this is given.")  # fmt: skip
@_run
async def import_pncp(
    directory: Path | None, api: bool, start: datetime | None, end: datetime | None,
    modalities: tuple[int, ...], base_url: str, encoding: str | None,
    max_rejects: RejectLimit, dry_run: bool, allow_empty: bool, rejects_path: Path | None,
) -> None:  # fmt: skip
    """Import PNCP procurements, items and results: from DIRECTORY (default PNCP_SAMPLE_DIR)
    or, with --api, from the PNCP APIs for a date range. Re-running changes nothing.

    Exit status: 0 loaded; 2 a file is missing, empty, has no rows (see --allow-empty),
    lacks a required column or is not CSV (or bad usage); 3 a file has more rejected rows
    than --max-rejects; 4 a file is not text or not in its encoding; 1 anything else, the
    database unreachable or refusing included. After 2, 3 or 4 nothing was written.
    """
    if api and encoding:
        raise click.UsageError("--encoding applies to files, not to --api")
    if rejects_path is None and not dry_run:
        rejects_path = Path("pncp.rejects.csv")
    if rejects_path is not None:
        _check_writable(rejects_path)
    settings = _settings()
    found = Rejects()
    # The files are checked before the database is opened: their faults need none.
    exports = (
        None
        if api
        else open_directory(
            directory or settings.pncp_sample_dir, encoding, allow_empty=allow_empty
        )
    )
    async with _connect(settings) as conn:
        await _schema_ready(conn, dry_run)
        try:
            # Written before the commit: a rejects file that cannot be written undoes the load.
            report = await _import_pncp(
                conn, found, exports, start, end, modalities, base_url, max_rejects, dry_run,
                lambda: _write_rejects(found, rejects_path),
            )  # fmt: skip
        except TooManyRejects:
            _write_rejects(found, rejects_path)  # they are what explains the failure
            _say_rejects_written(found, rejects_path)
            raise
        changed = any(t.inserted or t.updated for t in report.tables.values())
        if changed and not dry_run:
            await _invalidate(settings, conn, "data")
    for line in report.lines():
        click.echo(line)
    _say_rejects_written(found, rejects_path)
    if found.rows and rejects_path is None:
        click.echo(f"{len(found.rows)} row(s) would be rejected; --rejects FILE lists them")
    if dry_run:
        click.echo("dry run: nothing was written to the database")


async def _schema_ready(conn: asyncpg.Connection, dry_run: bool) -> None:
    """Apply pending migrations, saying so in one line, so that `import pncp` works on a new
    database as `serve` does; a dry run writes nothing and so needs the schema as is."""
    pending = await pending_migrations(conn)
    if not pending:
        return
    if dry_run:
        raise click.ClickException(
            f"the database lacks {len(pending)} migration(s); a dry run changes nothing,"
            " so run `cidadao-gql db migrate` first"
        )
    click.echo(f"applying {len(pending)} migration(s) to the database first")
    try:
        await migrate(conn)
    except asyncpg.PostgresError as exc:
        raise DatabaseFailed(
            f"applying {len(pending)} migration(s) failed, so nothing was imported: {exc}"
            " (`cidadao-gql db migrate` applies them alone)"
        ) from None


async def _import_pncp(
    conn: asyncpg.Connection, found: Rejects, exports: dict[str, CsvExport] | None,
    start: datetime | None, end: datetime | None, modalities: tuple[int, ...], base_url: str,
    max_rejects: RejectLimit, dry_run: bool, before_commit: Callable[[], None],
) -> ImportReport:  # fmt: skip
    if exports is not None:
        for export in exports.values():
            click.echo(export.describe())
        directory = next(iter(exports.values())).path.parent
        if ignored := ignored_files(directory):
            click.echo(f"ignored, not PNCP files this import reads: {', '.join(ignored)}")
        return await import_exports(
            conn, exports, found,
            max_rejects=max_rejects, dry_run=dry_run, before_commit=before_commit,
        )  # fmt: skip
    if start is None or end is None or start > end:
        raise click.UsageError("--api needs --from DATE and --to DATE, in that order")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        rows = await fetch_rows(
            PncpClient(http), start.date(), end.date(), modalities or ALL_MODALITIES
        )
    return await import_rows(
        conn, rows.procurements, rows.items, rows.results, found,
        max_rejects=max_rejects, dry_run=dry_run, before_commit=before_commit,
    )  # fmt: skip


def _check_writable(path: Path) -> None:
    """Open the rejects file before any work, so that the rows it should list are not lost
    after a load; it is left as it was (not created, not emptied)."""
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise BadImportFile(
            f"cannot write the rejects file {path}: {exc.strerror or exc}; nothing was imported"
            " (--rejects names another)"
        ) from None
    if not existed:
        path.unlink()


def _say_rejects_written(found: Rejects, path: Path | None) -> None:
    if found.rows and path is not None:
        click.echo(f"{len(found.rows)} rejected row(s) written to {path}")


def _write_rejects(found: Rejects, path: Path | None) -> None:
    if found.rows and path is not None:
        with path.open("w", newline="", encoding="utf-8") as out:
            found.write(out)
