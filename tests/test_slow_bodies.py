"""Clients that send a body slowly, or leave while sending it, over raw sockets to a real
uvicorn: a body not all received in BODY_TIMEOUT is refused with 408 BODY_TIMEOUT and its
place among the requests in flight freed; a client that leaves mid-body is counted as
CLIENT_DISCONNECTED, never as an internal error."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import httpx
import pytest

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import live_server

BODY = json.dumps({"query": "{ __typename }"}).encode()


def _head(host: str, length: int) -> bytes:
    return (
        f"POST /graphql HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"accept: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


async def _stalled(client: httpx.AsyncClient) -> tuple[int, dict[str, object]]:
    """A POST declaring more body than it sends; the status and body of what comes back."""
    host, port = client.base_url.host, client.base_url.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_head(host, len(BODY)) + BODY[:10])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 30)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def _counted(exposition: str, code: str) -> float:
    found = re.search(rf'^cidadao_ai_errors_total\{{code="{code}"\}} (\S+)$', exposition, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("ttl", [0, 60])  # without and with the response cache's fast path
async def test_a_body_that_stops_arriving_is_refused_and_its_place_freed(
    settings: Settings, ttl: int
) -> None:
    tuned = dataclasses.replace(
        settings, body_timeout_s=1, max_concurrent_requests=2, response_cache_ttl=ttl
    )
    async with live_server(create_app(tuned)) as client:
        answers = await asyncio.gather(*(_stalled(client) for _ in range(3)))
        statuses = sorted(status for status, _ in answers)
        # two in flight until their bodies time out, the third refused while they are
        assert statuses == [408, 408, 503], answers
        for status, body in answers:
            code = {408: "BODY_TIMEOUT", 503: "SERVICE_OVERLOADED"}[status]
            assert body["errors"][0]["extensions"]["code"] == code  # type: ignore[index]
        for _ in range(3):  # every place given back
            response = await client.post("/graphql", content=BODY, headers=_json())
            assert response.status_code == 200, response.text
            assert response.json()["data"] == {"__typename": "Query"}


async def test_a_client_leaving_mid_body_is_not_an_internal_error(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        before = (await client.get("/metrics")).text
        host, port = client.base_url.host, client.base_url.port
        assert port is not None
        for _ in range(4):
            _, writer = await asyncio.open_connection(host, port)
            writer.write(_head(host, len(BODY)) + BODY[:10])
            await writer.drain()
            await asyncio.sleep(0.2)  # the request reached the app, waiting for its body
            writer.close()
            await writer.wait_closed()
        for _ in range(100):  # the server notices each departure in its own time
            after = (await client.get("/metrics")).text
            if (
                _counted(after, "CLIENT_DISCONNECTED") - _counted(before, "CLIENT_DISCONNECTED")
                >= 4
            ):
                break
            await asyncio.sleep(0.05)
        assert _counted(after, "CLIENT_DISCONNECTED") - _counted(before, "CLIENT_DISCONNECTED") == 4
        internal = "INTERNAL_SERVER_ERROR"
        assert _counted(after, internal) == _counted(before, internal)
        response = await client.post("/graphql", content=BODY, headers=_json())
        assert response.status_code == 200


def _json() -> dict[str, str]:
    return {"content-type": "application/json", "accept": "application/json"}
