"""benchmarks/hit_path.py compares each hit with a ceiling that sends what that hit sends:
the same bytes, in the same coding, with the same headers. No load: this runs with the
suite."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import live_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import harness  # benchmarks/harness.py, found through the path above
import hit_path

LONG = json.dumps({"query": "{ contracts(first: 40) { nodes { number agency { name } } } }"})


def bare_app(tmp: Path, body: bytes, headers: dict[str, str], monkeypatch: Any) -> Any:
    """The ceiling's app, as harness.bare_server starts it in its own process."""
    (tmp / "body.json").write_bytes(body)
    (tmp / "headers.json").write_text(json.dumps(headers))
    monkeypatch.setenv("BARE_BODY", str(tmp / "body.json"))
    monkeypatch.setenv("BARE_HEADERS", str(tmp / "headers.json"))
    namespace: dict[str, Any] = {}
    exec(compile(harness.BARE_APP, "bare_app.py", "exec"), namespace)
    return namespace["app"]


@pytest.mark.parametrize(("kind", "headers"), hit_path.KINDS)
async def test_each_ceiling_sends_the_bytes_and_headers_of_its_hit(
    settings: Settings, tmp_path: Path, monkeypatch: Any, kind: str, headers: dict[str, str]
) -> None:
    app = create_app(replace(settings, cors_origins=(hit_path.ORIGIN,)))
    async with live_server(app) as client:
        base = str(client.base_url).rstrip("/")
        await asyncio.to_thread(hit_path.as_sent, base, LONG, headers)  # the miss, stored
        body, sent = await asyncio.to_thread(hit_path.as_sent, base, LONG, headers)
    assert sent["x-cache"] == "hit", kind
    coding = "zstd" if headers else None
    assert sent.get("content-encoding") == coding, kind
    ceiling = bare_app(tmp_path, body, sent, monkeypatch)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ceiling)) as bare:
        request = bare.build_request("POST", "http://bare/graphql", content=LONG, headers=headers)
        answer = await bare.send(request, stream=True)
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert raw == body, kind
    replayed = {k: v for k, v in answer.headers.items() if k not in hit_path.NOT_REPLAYED}
    assert replayed == sent, kind
    assert int(answer.headers["content-length"]) == len(body), kind
