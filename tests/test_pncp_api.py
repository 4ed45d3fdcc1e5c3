"""Importing from the PNCP APIs, against a local server that serves the sample as API pages."""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cidadao_gql.ingestion.importer import import_directory, import_rows
from cidadao_gql.ingestion.pncp_api import PncpClient, fetch_rows
from cidadao_gql.ingestion.report import Rejects
from tests.conftest import SAMPLE_DIR, DatabaseFactory, connect, live_server, run_cli

NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")


CODES = ("cnpj", "nifornecedor", "codigo", "numerocontrole", "numerocompra", "processo")


def _typed(key: str, raw: str) -> Any:
    """A CSV cell as the API's JSON would carry it: codes stay strings, numbers are numbers."""
    value = raw.strip()
    if value in ("", "NA"):
        return None
    if value in ("TRUE", "True", "FALSE", "False"):
        return value.lower() == "true"
    if NUMBER.match(value) and not any(code in key.lower() for code in CODES):
        number = float(value)
        return (
            int(number)
            if number.is_integer() and "." not in value and "e" not in value.lower()
            else number
        )
    return raw


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, raw in flat.items():
        if not key.startswith("data."):
            continue
        *parents, leaf = key.removeprefix("data.").split(".")
        node = record
        for parent in parents:
            node = node.setdefault(parent, {})
        if leaf not in node or not isinstance(node[leaf], dict):
            node[leaf] = _typed(leaf, raw)
    return record


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def pncp_app(fail_first: set[str], bad_cnpjs: int = 0) -> Starlette:
    """PNCP's endpoints over the sample; each path in `fail_first` answers 503 once, and the
    first `bad_cnpjs` procurements carry an agency CNPJ with a wrong check digit."""
    procurements = [_nest(r) for r in _rows("contratacoes.csv")]
    for p in procurements[:bad_cnpjs]:
        cnpj = p["orgaoEntidade"]["cnpj"]
        p["orgaoEntidade"]["cnpj"] = cnpj[:-1] + str((int(cnpj[-1]) + 1) % 10)
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows("resultados.csv"):
        path = row["endpoint"][row["endpoint"].index("/api/") :]
        results[path].append({k: _typed(k, v) for k, v in row.items() if k != "endpoint"})
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows("itens_medicamentos.csv"):
        path = row["endpoint"][row["endpoint"].index("/api/") :]
        item = {k: _typed(k, v) for k, v in row.items() if k != "endpoint"}
        item["temResultado"] = f"{path}/{item['numeroItem']}/resultados" in results
        items[path].append(item)
    failed: set[str] = set()

    def flaky(request: Request) -> Response | None:
        key = str(request.url.path) + "?" + str(request.url.query)
        if (
            any(key.startswith(f) or request.url.path == f for f in fail_first)
            and key not in failed
        ):
            failed.add(key)
            return Response(status_code=503)
        return None

    async def listing(request: Request) -> Response:
        if refused := flaky(request):
            return refused
        q = request.query_params
        start, end = (
            date.fromisoformat(f"{d[:4]}-{d[4:6]}-{d[6:]}")
            for d in (q["dataInicial"], q["dataFinal"])
        )
        found = [
            p for p in procurements
            if p["modalidadeId"] == int(q["codigoModalidadeContratacao"])
            and start <= date.fromisoformat(p["dataPublicacaoPncp"][:10]) <= end
        ]  # fmt: skip
        size, page = int(q["tamanhoPagina"]), int(q["pagina"])
        if not found:
            return Response(status_code=204)
        pages = math.ceil(len(found) / size)
        return JSONResponse(
            {
                "data": found[(page - 1) * size : page * size],
                "totalRegistros": len(found),
                "totalPaginas": pages,
                "numeroPagina": page,
                "paginasRestantes": max(pages - page, 0),
                "empty": False,
            }
        )

    async def listed(request: Request) -> Response:
        if refused := flaky(request):
            return refused
        table = results if request.url.path.endswith("/resultados") else items
        return JSONResponse(table.get(request.url.path, []))

    return Starlette(
        routes=[
            Route("/api/consulta/v1/contratacoes/publicacao", listing),
            Route("/api/pncp/v1/orgaos/{cnpj}/compras/{year}/{seq}/itens", listed),
            Route("/api/pncp/v1/orgaos/{cnpj}/compras/{year}/{seq}/itens/{n}/resultados", listed),
        ]
    )


async def test_api_import_loads_what_the_files_load(make_database: DatabaseFactory) -> None:
    flaky_paths = {
        "/api/consulta/v1/contratacoes/publicacao",
        "/api/pncp/v1/orgaos/14814139000183/compras/2024/207/itens",
    }
    async with (
        live_server(pncp_app(flaky_paths)) as local,
        httpx.AsyncClient(base_url=f"{local.base_url}/api", timeout=10) as http,
    ):
        client = PncpClient(http, attempts=3, backoff=0.01)
        rows = await fetch_rows(client, date(2023, 7, 1), date(2025, 1, 31), (6,))
    assert (len(rows.procurements), len(rows.items), len(rows.results)) == (500, 203, 81)

    from_api, from_files = await make_database(), await make_database()
    rejects = Rejects()
    async with connect(from_api) as conn:
        report = await import_rows(conn, rows.procurements, rows.items, rows.results, rejects)
        api_tables = {
            t: await conn.fetch(f"SELECT * FROM {t} ORDER BY 2, 3, 4")
            for t in ("agencies", "items", "awards")
        }
        api_procurements = await conn.fetch(
            "SELECT pncp_control_number, object, estimated_total, homologated_total, srp, published_at"
            " FROM procurements ORDER BY 1"
        )
    async with connect(from_files) as conn:
        await import_directory(conn, SAMPLE_DIR, Rejects())
        file_procurements = await conn.fetch(
            "SELECT pncp_control_number, object, estimated_total, homologated_total, srp, published_at"
            " FROM procurements ORDER BY 1"
        )
        file_counts = {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("agencies", "items", "awards")
        }
    assert rejects.rows == []
    assert report.tables["procurements"].inserted == 500
    assert {t: len(v) for t, v in api_tables.items()} == file_counts
    assert api_procurements == file_procurements


async def test_retries_give_up_after_the_last_attempt() -> None:
    async def always_down(_: Request) -> Response:
        return Response(status_code=503)

    app = Starlette(routes=[Route("/api/consulta/v1/contratacoes/publicacao", always_down)])
    async with (
        live_server(app) as local,
        httpx.AsyncClient(base_url=f"{local.base_url}/api") as http,
    ):
        client = PncpClient(http, attempts=2, backoff=0.01)
        with pytest.raises(httpx.HTTPStatusError) as caught:
            await fetch_rows(client, date(2024, 1, 1), date(2024, 1, 2), (6,))
    assert caught.value.response.status_code == 503


async def test_api_import_shares_the_dry_run_and_the_reject_limit(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    """`--api` goes through the same one transaction as files: a dry run writes nothing,
    and more rejects than `--max-rejects` fail with status 3, writing nothing."""
    url = await make_database()
    command = ["import", "pncp", "--api", "--from", "2023-07-01", "--to", "2025-01-31",
               "--modality", "6"]  # fmt: skip
    async with live_server(pncp_app(set())) as local:
        dry = await run_cli(url, tmp_path, *command, "--base-url", f"{local.base_url}/api",
                            "--dry-run")  # fmt: skip
    async with live_server(pncp_app(set(), bad_cnpjs=1)) as local:
        over = await run_cli(url, tmp_path, *command, "--base-url", f"{local.base_url}/api",
                             "--max-rejects", "0")  # fmt: skip
    misuse = await run_cli(url, tmp_path, *command, "--encoding", "latin-1")

    assert dry[0] == 0, dry[2]
    assert "procurements: 500 new, 0 updated, 0 unchanged" in dry[1]
    assert dry[1].endswith("dry run: nothing was written to the database\n")
    assert over[0] == 3, over[2]
    last_line = over[2].splitlines()[-1]  # after httpx's INFO lines
    assert last_line.startswith("Error: too many rejected rows: contratacoes 1 of 500 (0.2%)")
    assert misuse[0] == 2 and "--encoding applies to files, not to --api" in misuse[2]
    async with connect(url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM procurements") == 0
