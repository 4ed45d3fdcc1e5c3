"""Standard clients against a live server: the npm graphql-ws client (run by node) follows an
investigation over graphql-transport-ws, and every event the server sent reaches it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from cidadao_gql.investigations.queue import events_stream
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import ROOT, live_server, needs
from tests.test_subscriptions import EVENTS, new_key

NODE, NPM = shutil.which("node"), shutil.which("npm")
CLIENTS = ROOT / "tests" / "clients"
# Every agent over every contract: a few hundred events, so several batches, and messages
# large enough to be deflated.
START_ALL = """mutation { startInvestigation(target: {signedFrom: "1990-01-01"}) { id } }"""


def _installed(directory: Path) -> bool:
    """node_modules holds exactly the versions package.json pins."""
    pinned = json.loads((directory / "package.json").read_text())["dependencies"]
    for name, version in pinned.items():
        manifest = directory / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """tests/clients with its pinned packages installed from the npm registry (once)."""
    needs(NODE and NPM, "node and npm")
    assert NPM is not None  # needs() returned: both are there
    if not _installed(CLIENTS):
        subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENTS, check=True
        )
    return CLIENTS


async def start_all(client: httpx.AsyncClient, key: str) -> str:
    answer = await client.post(
        "/graphql", json={"query": START_ALL}, headers={"authorization": f"Bearer {key}"}
    )
    investigation: str = answer.json()["data"]["startInvestigation"]["id"]
    return investigation


async def messages_out(client: httpx.AsyncClient) -> float:
    """cidadao_ai_websocket_messages_total{direction="out"}, as /metrics says."""
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('cidadao_ai_websocket_messages_total{direction="out"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def stream_ids(redis_url: str, investigation: str) -> list[str]:
    """The ids of the events the server announced for the investigation."""
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = await redis.xrange(events_stream(uuid.UUID(investigation)))
    finally:
        await redis.aclose()
    return [str(entry) for entry, _ in entries or ()]


async def node_subscribe(
    clients: Path, url: str, authorization: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Runs subscribe.mjs (asynchronously: the server answers in this same event loop)."""
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE, str(clients / "subscribe.mjs"), url, authorization, EVENTS, json.dumps(variables),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = orjson.loads(out)
    return report


async def test_graphql_ws_follows_an_investigation_to_its_end(
    settings: Settings, redis_url: str, node_clients: Path
) -> None:
    settings = replace(settings, redis_url=redis_url)
    key = await new_key(settings, f"ana-{uuid.uuid4()}", {"read", "investigate"})
    async with live_server(create_app(settings)) as client:
        url = str(client.base_url).replace("http://", "ws://") + "/graphql"
        sent_before = await messages_out(client)
        investigation = await start_all(client, key)
        report = await node_subscribe(node_clients, url, f"Bearer {key}", {"id": investigation})
        sent = await messages_out(client) - sent_before
        announced = await stream_ids(redis_url, investigation)
    assert report["error"] is None, report["error"]
    events = [e for r in report["results"] for e in r["data"]["investigationEvents"]["events"]]
    assert [e["id"] for e in events] == announced  # every event, once, in order
    assert events[0]["kind"] == "CREATED" and events[-1]["kind"] == "FINISHED"
    assert events[-1]["payload"]["status"] == "completed"
    # Every message the server counted out (ack, each batch, complete) arrived as text.
    assert report["frames"] == {"text": sent, "binary": 0}
    assert sent == len(report["results"]) + 2
    assert report["extensions"].startswith("permessage-deflate")
