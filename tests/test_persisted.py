"""Automatic persisted queries (Apollo's protocol) and trusted documents, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from pathlib import Path

from cidadao_gql.data.persisted import register_directory
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import connect, live_server


def persisted(digest: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_apq_miss_then_register_then_hit(settings: Settings, redis_url: str) -> None:
    query = f"{{ contracts(first: 2) {{ nodes {{ number }} }} }} # {uuid.uuid4()}"
    digest = hashlib.sha256(query.encode()).hexdigest()
    async with live_server(create_app(replace(settings, redis_url=redis_url))) as client:
        miss = await client.post("/graphql", json={"extensions": persisted(digest)})
        sent = await client.post("/graphql", json={"query": query, "extensions": persisted(digest)})
        hit = await client.post("/graphql", json={"extensions": persisted(digest)})
        by_get = await client.get("/graphql", params={"extensions": json.dumps(persisted(digest))})
    (error,) = miss.json()["errors"]
    assert miss.status_code == 200
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert sent.json()["data"] == hit.json()["data"] == by_get.json()["data"], (
        sent.text,
        hit.text,
        by_get.text,
    )
    assert len(hit.json()["data"]["contracts"]["nodes"]) == 2


async def test_a_hash_that_is_not_the_query_s_is_refused(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.post(
            "/graphql", json={"query": "{ viewer { id } }", "extensions": persisted("0" * 64)}
        )
    assert answer.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


async def test_trusted_documents_mode_runs_registered_documents_only(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.database_url
    document = "query Registered { agencies(first: 1) { nodes { name } } }\n"
    (tmp_path / "registered.graphql").write_text(document)
    async with connect(settings.database_url) as conn:
        [(name, digest)] = await register_directory(conn, tmp_path)
    assert name == "registered.graphql" and digest == hashlib.sha256(document.encode()).hexdigest()
    trusted = replace(settings, persisted_queries_only=True)
    async with live_server(create_app(trusted)) as client:
        by_hash = await client.post("/graphql", json={"extensions": persisted(digest)})
        by_text = await client.post("/graphql", json={"query": document})
        other = await client.post(
            "/graphql", json={"query": "{ agencies(first: 2) { nodes { name } } }"}
        )
    assert by_hash.json()["data"] == by_text.json()["data"]
    assert len(by_hash.json()["data"]["agencies"]["nodes"]) == 1
    (error,) = other.json()["errors"]
    assert error["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
    assert "data" not in other.json() or other.json()["data"] is None


async def test_a_cached_answer_is_not_given_to_another_spelling_of_a_trusted_document(
    settings: Settings, tmp_path: Path
) -> None:
    """The response cache keys the normalized document: the registered text's answer is
    kept under the key another spelling has too. That spelling is not registered, and the
    cache's fast path must not answer it before the full path refuses it."""
    assert settings.database_url
    document = "query Spelled { agencies(first: 1) { nodes { name } } }\n"
    (tmp_path / "spelled.graphql").write_text(document)
    async with connect(settings.database_url) as conn:
        await register_directory(conn, tmp_path)
    trusted = replace(settings, persisted_queries_only=True)
    respelled = "query Spelled{agencies(first:1){nodes{name}}}"
    async with live_server(create_app(trusted)) as client:
        for _ in range(2):  # the miss, stored; a hit
            registered = await client.post("/graphql", json={"query": document})
        other = await client.post("/graphql", json={"query": respelled})
    assert registered.headers["x-cache"] == "hit"
    assert "x-cache" not in other.headers
    (error,) = other.json()["errors"]
    assert error["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
