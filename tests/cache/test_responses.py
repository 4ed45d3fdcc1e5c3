"""Whole-response caching over HTTP, and entity rows served from the cache."""

from __future__ import annotations

from typing import Any

from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.response_cache import document_key
from tests.conftest import live_server

PAGE = "query Page($n: Int!) { contracts(first: $n) { nodes { number agency { name } } } }"


def test_documents_are_normalized_and_private_ones_refused() -> None:
    assert document_key("{contracts(first:1){nodes{id}}}", None) == document_key(
        "query {\n  contracts(first: 1) {\n    nodes { id }\n  }\n}", None
    )
    assert document_key("{ viewer { id } }", None) is None
    assert document_key("{ contracts(first: 1) { nodes { id } } viewer { id } }", None) is None
    assert document_key("mutation { x }", None) is None
    assert document_key("{ broken", None) is None


async def test_second_post_is_a_hit_and_variables_matter(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        first = await client.post("/graphql", json={"query": PAGE, "variables": {"n": 3}})
        second = await client.post("/graphql", json={"query": PAGE, "variables": {"n": 3}})
        other = await client.post("/graphql", json={"query": PAGE, "variables": {"n": 4}})
    assert (first.headers["x-cache"], second.headers["x-cache"], other.headers["x-cache"]) == (
        "miss",
        "hit",
        "miss",
    )
    assert first.json()["data"] == second.json()["data"]
    assert len(other.json()["data"]["contracts"]["nodes"]) == 4
    assert (
        second.json()["extensions"]["cost"]["requestedQueryCost"]
        == first.json()["extensions"]["cost"]["requestedQueryCost"]
    )
    assert second.json()["extensions"]["cost"]["throttleStatus"] is None


async def test_get_answers_carry_etag_and_cache_control(settings: Settings) -> None:
    params = {"query": PAGE, "variables": '{"n": 2}'}
    async with live_server(create_app(settings)) as client:
        first = await client.get("/graphql", params=params)
        again = await client.get(
            "/graphql", params=params, headers={"if-none-match": first.headers["etag"]}
        )
    assert first.status_code == 200
    assert first.headers["cache-control"] == f"public, max-age={settings.response_cache_ttl}"
    assert again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert again.content == b""


async def test_errors_are_never_cached(settings: Settings) -> None:
    bad = {"query": PAGE, "variables": {"n": 500}}
    async with live_server(create_app(settings)) as client:
        answers = [await client.post("/graphql", json=bad) for _ in range(2)]
    assert all(a.json()["errors"] for a in answers)
    assert all("x-cache" not in a.headers for a in answers)


async def test_entity_rows_come_from_the_cache(
    settings: Settings, db: Database, schema: Any
) -> None:
    cache = TieredCache(settings, db, None)
    await cache.start()
    try:

        async def round_trips(query: str) -> int:
            before = await db.round_trips.settled()
            context = Context(db, settings, Loaders(db, cache), None, "t")
            result = await schema.execute(query, variable_values={"n": 50}, context_value=context)
            assert result.errors is None
            return await db.round_trips.settled() - before

        warm_up = "query($n: Int!) { contracts(first: $n) { nodes { supplier { name } agency { name } } } }"
        for _ in range(3):  # the pool's connections prepare their statements
            await round_trips(warm_up)
        cold = await round_trips(warm_up.replace("name }", "name document }", 1))
        warm = await round_trips(warm_up.replace("agency { name }", "agency { cnpj }"))
    finally:
        await cache.close()
    assert cold == 1  # the page; its suppliers and agencies were cached by the warm-up
    assert warm == 1


async def test_the_fast_path_answers_anonymous_hits_and_only_them(settings: Settings) -> None:
    from cidadao_gql.data import apikeys
    from tests.conftest import connect

    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = await apikeys.create_key(conn, "fast-path")
    body = {"query": PAGE, "variables": {"n": 5}}
    async with live_server(create_app(settings)) as client:
        first = await client.post("/graphql", json=body)
        fast = await client.post("/graphql", json=body)
        authenticated = await client.post(
            "/graphql", json=body, headers={"authorization": f"Bearer {key.key}"}
        )
        bad_key = await client.post("/graphql", json=body, headers={"authorization": "Bearer nope"})
    assert first.headers["x-cache"] == "miss" and fast.headers["x-cache"] == "hit"
    assert fast.json()["data"] == first.json()["data"]
    assert len(fast.headers["x-request-id"]) == 32
    assert authenticated.headers["x-cache"] == "hit"  # the full path's hit, after the key check
    assert bad_key.status_code == 401  # a bad key is never answered from the cache


def test_a_document_is_parsed_no_further_than_the_token_limit() -> None:
    """Keys are worked out before the schema's limits run, for any body the size limit
    lets through: the parse stops at the token limit, and such a document gets no key."""
    long = "{ " + "__typename " * 3000 + "}"
    assert document_key(long, None) is None
    assert document_key(long, None, max_tokens=5000) is not None
