"""Pulling PNCP data from its public APIs, as the same flat rows the CSV exports have.

Procurements come from the consultation API (`/consulta/v1/contratacoes/publicacao`, paged,
one modality per call as the API requires); their items and each item's results from the
PNCP API (`/pncp/v1/orgaos/{cnpj}/compras/{year}/{sequence}/itens[/{n}/resultados]`).
Transient failures (network errors, 429, 5xx) are retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from cidadao_gql.ingestion import values
from cidadao_gql.ingestion.pncp import MODALITIES, Row

DEFAULT_BASE_URL = "https://pncp.gov.br/api"
ALL_MODALITIES = tuple(MODALITIES)
_WINDOW = timedelta(days=30)


@dataclass
class ApiRows:
    procurements: list[tuple[int, Row]] = field(default_factory=list)
    items: list[tuple[int, Row]] = field(default_factory=list)
    results: list[tuple[int, Row]] = field(default_factory=list)


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"orgaoEntidade": {"cnpj": ...}}` as `{"orgaoEntidade.cnpj": ...}`, as in the exports."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return False


class PncpClient:
    def __init__(
        self,
        client: httpx.AsyncClient,
        attempts: int = 5,
        concurrency: int = 8,
        backoff: float = 0.5,
    ) -> None:
        self.client = client
        self.attempts = attempts
        self.backoff = backoff
        self.limit = asyncio.Semaphore(concurrency)

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded body, or None for 204 No Content (PNCP's answer for an empty page)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=self.backoff, max=30, jitter=self.backoff),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        async with self.limit:
            async for attempt in retrying:
                with attempt:
                    response = await self.client.get(path, params=params)
                    response.raise_for_status()
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def procurements(self, start: date, end: date, modality: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.get_json(
                "/consulta/v1/contratacoes/publicacao",
                {
                    "dataInicial": start.strftime("%Y%m%d"),
                    "dataFinal": end.strftime("%Y%m%d"),
                    "codigoModalidadeContratacao": modality,
                    "pagina": page,
                    "tamanhoPagina": 50,
                },
            )
            if not body or not body.get("data"):
                return found
            found.extend(body["data"])
            if not body.get("paginasRestantes"):
                return found
            page += 1

    async def items_of(self, cnpj: str, year: int, sequence: int) -> list[dict[str, Any]]:
        path = f"/pncp/v1/orgaos/{cnpj}/compras/{year}/{sequence}/itens"
        return [{**item, "endpoint": path} for item in await self.get_json(path) or []]

    async def results_of(
        self, cnpj: str, year: int, sequence: int, item: int
    ) -> list[dict[str, Any]]:
        path = f"/pncp/v1/orgaos/{cnpj}/compras/{year}/{sequence}/itens/{item}/resultados"
        return list(await self.get_json(path) or [])


async def fetch_rows(
    client: PncpClient, start: date, end: date, modalities: tuple[int, ...] = ALL_MODALITIES
) -> ApiRows:
    rows = ApiRows()
    window = start
    while window <= end:
        stop = min(window + _WINDOW, end)
        pages = await asyncio.gather(*(client.procurements(window, stop, m) for m in modalities))
        for record in (r for page in pages for r in page):
            rows.procurements.append((len(rows.procurements) + 1, flatten(record, "data.")))
        window = stop + timedelta(days=1)
    keys = [
        (row["data.orgaoEntidade.cnpj"], row["data.anoCompra"], row["data.sequencialCompra"])
        for _, row in rows.procurements
        if row.get("data.orgaoEntidade.cnpj")
        and row.get("data.anoCompra")
        and row.get("data.sequencialCompra")
    ]
    item_lists = await asyncio.gather(*(client.items_of(*key) for key in keys))
    wanted = []
    for key, items in zip(keys, item_lists, strict=True):
        for item in items:
            rows.items.append((len(rows.items) + 1, flatten(item)))
            if values.boolean(item.get("temResultado")) and item.get("numeroItem") is not None:
                wanted.append((key, item["numeroItem"]))
    result_lists = await asyncio.gather(*(client.results_of(*key, n) for key, n in wanted))
    for ((cnpj, year, sequence), number), results in zip(wanted, result_lists, strict=True):
        for result in results:
            row = flatten(result)
            row.setdefault("numeroControlePNCPCompra", f"{cnpj}-1-{int(sequence):06d}/{year}")
            row.setdefault("numeroItem", number)
            rows.results.append((len(rows.results) + 1, row))
    return rows
