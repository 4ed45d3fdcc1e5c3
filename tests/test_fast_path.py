"""The response cache's fast path (web/middleware.py CachedAnswers), outside every other
layer: a hit it answers carries what the full path's answer carries for the same request,
and the layers it runs before (CORS, overload, body limit, metrics) still hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry, Histogram

from cidadao_gql import metrics
from cidadao_gql.data import apikeys
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.middleware import CachedAnswers
from tests.cache.test_responses import BROWSER, LONG, hits
from tests.conftest import connect, live_server

ALLOWED = BROWSER["origin"]
ORIGINS = (ALLOWED, "https://evil.example", None)
NOT_SENT_ALIKE = frozenset({"date", "server"})  # uvicorn's, per answer


async def api_key(settings: Settings) -> str:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        return (await apikeys.create_key(conn, f"fast-{uuid.uuid4()}")).key


def sent(answer: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in answer.headers.multi_items() if k not in NOT_SENT_ALIKE)


@pytest.mark.parametrize("origins", [(ALLOWED,), ("*",)])
@pytest.mark.parametrize("sessions", [False, True])
async def test_a_fast_hit_carries_the_full_paths_headers(
    settings: Settings, origins: tuple[str, ...], sessions: bool
) -> None:
    """Per CORS setting (listed origins or `*`; with sessions, credentials allowed) and per
    Origin (allowed, another, none): the fast path's hit and the full path's (the same
    request with a key) have the same headers and bytes: CORS, Vary, Content-Encoding,
    ETag and Cache-Control (where there are any), the request id."""
    on = replace(settings, cors_origins=origins, session_secret="s" * 32 if sessions else None)
    key = await api_key(settings)
    async with live_server(create_app(on)) as client:
        client.headers.pop("accept-encoding")
        await client.post("/graphql", json=LONG)  # the miss, stored
        for origin in ORIGINS:
            headers = {**BROWSER, "x-request-id": "same-id"}
            if origin is None:
                del headers["origin"]
            else:
                headers["origin"] = origin
            fast, full = hits("fast", "zstd"), hits("full", "zstd")
            by_fast = await client.post("/graphql", json=LONG, headers=headers)
            assert hits("fast", "zstd") - fast == 1, origin
            keyed = {**headers, "authorization": f"Bearer {key}"}
            by_full = await client.post("/graphql", json=LONG, headers=keyed)
            assert hits("full", "zstd") - full == 1, origin
            assert sent(by_fast) == sent(by_full), origin
            assert by_fast.content == by_full.content, origin
            assert (
                by_fast.headers["x-cache"] == "hit" and by_fast.headers["x-request-id"] == "same-id"
            )
            assert by_fast.headers["content-encoding"] == "zstd"
            allowed = origin is not None and (origin == ALLOWED or origins == ("*",))
            expected = (
                None if not allowed else "*" if origins == ("*",) and not sessions else origin
            )
            assert by_fast.headers.get("access-control-allow-origin") == expected, origin
            credentials = "true" if allowed and sessions else None
            assert by_fast.headers.get("access-control-allow-credentials") == credentials, origin
            assert by_fast.headers.get_list("vary") == ["Accept-Encoding, Accept, Origin"], origin


async def test_a_disallowed_origin_gets_no_allow_headers_from_the_fast_path(
    settings: Settings,
) -> None:
    on = replace(settings, cors_origins=(ALLOWED,), session_secret="s" * 32)
    async with live_server(create_app(on)) as client:
        await client.post("/graphql", json=LONG)  # the miss, stored
        fast = hits("fast", "zstd")
        answers = [
            await client.post("/graphql", json=LONG, headers={**BROWSER, "origin": origin})
            for origin in (f"https://evil{n}.example" for n in range(3))
        ]
        assert hits("fast", "zstd") - fast == 3
    for answer in answers:
        assert answer.headers["x-cache"] == "hit"
        assert not [k for k in answer.headers if k.startswith("access-control-")]
        assert answer.headers["vary"] == "Accept-Encoding, Accept, Origin"


async def test_metrics_count_every_fast_hit_exactly(settings: Settings) -> None:
    """N hits: N more in the latency histogram (its count, its +Inf bucket), the hits
    counter and the response tier's lookups, as /metrics shows them."""
    name = f"Fast{uuid.uuid4().hex[:8]}"
    body = {"query": f"query {name} {{ contracts(first: 40) {{ nodes {{ number }} }} }}",
            "operationName": name}  # fmt: skip
    labels = {"operation": name, "path": "cache"}
    n = 37
    async with live_server(create_app(settings)) as client:
        await client.post("/graphql", json=body)  # the miss, stored
        before = metric_samples((await client.get("/metrics")).text)
        answers = [await client.post("/graphql", json=body, headers=BROWSER) for _ in range(n)]
        after = metric_samples((await client.get("/metrics")).text)
    assert {a.headers["x-cache"] for a in answers} == {"hit"}

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("cidadao_ai_request_duration_seconds_count", **labels) == n
    assert grew("cidadao_ai_request_duration_seconds_bucket", **labels, le="+Inf") == n
    assert grew("cidadao_ai_response_cache_hits_total", path="fast", encoding="zstd") == n
    assert grew("cidadao_ai_cache_requests_total", tier="response", namespace="response",
                result="hit") == n  # fmt: skip


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_kept_latencies_flush_as_observe_would_record_them() -> None:
    """The fast path keeps its latencies as a sum and bucket counts and adds them to the
    histogram once a second, through prometheus_client's private values (metrics.observed):
    the samples must be those of `observe` on the same values, bounds included."""
    values = [0.0, 0.0004, 0.001, 0.0010001, 0.0025, 0.07, 0.2, 1.0, 9.99, 10.0, 12.5]
    name = f"Kept{uuid.uuid4().hex[:8]}"
    for seconds in values:
        metrics.fast_hit("identity", name, seconds)
    metrics.flush()
    reference = Histogram("reference", "", ["operation", "path"], buckets=metrics.LATENCY_BUCKETS,
                          registry=CollectorRegistry())  # fmt: skip
    for seconds in values:
        reference.labels(name, "cache").observe(seconds)
    kept = metrics.REQUEST_DURATION.labels(name, "cache")
    assert histogram(kept, "cidadao_ai_request_duration_seconds") == histogram(
        reference.labels(name, "cache"), "reference"
    )


def histogram(child: Histogram, name: str) -> list[tuple[str, dict[str, str], float]]:
    """A histogram child's samples but `_created`, each named by its suffix."""
    (family,) = child.collect()
    return [(s.name.removeprefix(name), s.labels, s.value) for s in family.samples
            if not s.name.endswith("_created")]  # fmt: skip


@pytest.fixture
async def overloadable(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, CachedAnswers]]:
    app = create_app(replace(settings, max_concurrent_requests=1))
    async with live_server(app) as client:
        await client.post("/graphql", json=LONG)  # the miss, stored; the stack built
        fast_path = app.middleware_stack
        assert isinstance(fast_path, CachedAnswers)
        yield client, fast_path


async def test_a_full_worker_refuses_a_hit_as_it_refuses_the_rest(
    overloadable: tuple[httpx.AsyncClient, CachedAnswers],
) -> None:
    """At the concurrency limit a hit gets the Gate's 503, as before the fast path ran
    first; the fast path's own hits count in flight and leave the count as they found it."""
    client, fast_path = overloadable
    fast = hits("fast", "zstd")
    assert (await client.post("/graphql", json=LONG)).headers["x-cache"] == "hit"
    assert hits("fast", "zstd") - fast == 1
    assert fast_path.flight.count == 0
    fast_path.flight.count = 1  # another request in flight
    try:
        refused = await client.post("/graphql", json=LONG)
    finally:
        fast_path.flight.count = 0
    assert refused.status_code == 503
    assert orjson.loads(refused.content)["errors"][0]["extensions"]["code"] == "SERVICE_OVERLOADED"
    assert hits("fast", "zstd") - fast == 1


async def test_bodies_past_the_limit_or_of_no_declared_length_are_not_read_by_the_fast_path(
    settings: Settings,
) -> None:
    """A hit's document padded past MAX_BODY_BYTES is the Gate's 413, as before; a chunked
    body (no Content-Length) goes to the full path, which counts what it reads."""
    body = orjson.dumps(LONG)
    on = replace(settings, max_body_bytes=len(body) + 10)
    json = {"content-type": "application/json"}

    async def chunked() -> AsyncIterator[bytes]:
        yield body

    async with live_server(create_app(on)) as client:
        await client.post("/graphql", content=body, headers=json)  # the miss, stored
        fast, full = hits("fast", "zstd"), hits("full", "zstd")
        padded = await client.post("/graphql", content=body + b" " * 20, headers=json)
        streamed = await client.post("/graphql", content=chunked(), headers=json)
        assert hits("fast", "zstd") - fast == 0
        assert hits("full", "zstd") - full == 1
    assert padded.status_code == 413
    assert orjson.loads(padded.content)["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert streamed.status_code == 200 and streamed.headers["x-cache"] == "hit"


async def test_two_origins_are_answered_by_the_full_path(settings: Settings) -> None:
    """Cors reads the first Origin; the fast path leaves a request naming two to it."""
    on = replace(settings, cors_origins=(ALLOWED,))
    async with live_server(create_app(on)) as client:
        await client.post("/graphql", json=LONG)  # the miss, stored
        fast, full = hits("fast", "zstd"), hits("full", "zstd")
        twice = [("content-type", "application/json"), ("origin", ALLOWED),
                 ("origin", "https://evil.example")]  # fmt: skip
        answer = await client.post("/graphql", content=orjson.dumps(LONG), headers=twice)
        assert (hits("fast", "zstd") - fast, hits("full", "zstd") - full) == (0, 1)
    assert answer.headers["x-cache"] == "hit"
    assert answer.headers["access-control-allow-origin"] == ALLOWED
