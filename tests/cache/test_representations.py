"""What a shared cache reads from an answer: one ETag per representation, If-None-Match per
representation, HEAD answered as GET without a body, the short URL of a persisted query,
the Surrogate-Key of a public answer, and the same header values on the fast path and the
full path."""

from __future__ import annotations

import hashlib
import json

from cidadao_gql.data import apikeys
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import connect, live_server

PAGE = "query Page($n: Int!) { contracts(first: $n) { nodes { number agency { name } } } }"
LONG = {"query": PAGE, "variables": '{"n": 40}'}  # over 1 KB: every coding applies
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_each_representation_has_its_own_etag_and_if_none_match(
    settings: Settings,
) -> None:
    kinds = [("identity", None), ("br", None), ("gzip", None), ("zstd", None),
             ("identity", GRAPHQL_RESPONSE), ("br", GRAPHQL_RESPONSE)]  # fmt: skip
    async with live_server(create_app(settings)) as client:
        answers = {}
        for coding, accept in kinds:
            headers = {"accept-encoding": coding} | ({"accept": accept} if accept else {})
            answers[coding, accept] = (
                await client.get("/graphql", params=LONG, headers=headers),
                headers,
            )
        tags = {kind: answer.headers["etag"] for kind, (answer, _) in answers.items()}
        assert len(set(tags.values())) == len(kinds)
        br, br_headers = answers["br", None]
        own = await client.get(
            "/graphql", params=LONG, headers=br_headers | {"if-none-match": tags["br", None]}
        )
        weak_in_a_list = await client.get(
            "/graphql", params=LONG,
            headers=br_headers | {"if-none-match": f'"other", W/{tags["br", None]}'},
        )  # fmt: skip
        others = await client.get(
            "/graphql",
            params=LONG,
            headers=br_headers | {"if-none-match": ", ".join(t for k, t in tags.items() if k != ("br", None))},
        )  # fmt: skip
    assert own.status_code == 304 and own.headers["etag"] == tags["br", None]
    assert weak_in_a_list.status_code == 304
    assert others.status_code == 200 and others.content == br.content
    assert br.headers["content-encoding"] == "br"
    assert answers["identity", GRAPHQL_RESPONSE][0].headers["content-type"] == GRAPHQL_RESPONSE


async def test_head_is_answered_as_get_without_a_body(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        get = await client.get("/graphql", params=LONG, headers={"accept-encoding": "gzip"})
        head = await client.head("/graphql", params=LONG, headers={"accept-encoding": "gzip"})
        private = await client.head("/graphql", params={"query": "{ viewer { id } }"})
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "cache-control", "content-type", "content-encoding", "content-length",
                 "vary", "surrogate-key"):  # fmt: skip
        assert head.headers[name] == get.headers[name], name
    assert private.headers["cache-control"] == "private, no-store" and private.content == b""


async def test_the_short_url_of_a_persisted_query_is_the_same_request(settings: Settings) -> None:
    digest = hashlib.sha256(PAGE.encode()).hexdigest()
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})
    async with live_server(create_app(settings)) as client:
        unknown = await client.get(f"/q/{digest}", params={"variables": '{"n": 3}'})
        registered = await client.get(
            "/graphql", params={"query": PAGE, "variables": '{"n": 3}', "extensions": extensions}
        )
        short = await client.get(f"/q/{digest}", params={"variables": '{"n": 3}'})
        twice = await client.get(f"/q/{digest}", params={"extensions": extensions})
        posted = await client.post(f"/q/{digest}", json={})
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert short.status_code == 200 and short.json() == registered.json()
    assert short.headers["etag"] == registered.headers["etag"]
    assert short.headers["x-cache"] == "hit"
    assert twice.status_code == 400 and twice.json()["errors"][0]["extensions"]["code"] == (
        "BAD_REQUEST"
    )
    assert posted.status_code == 405


async def test_public_answers_name_what_they_read_and_credentials_make_them_private(
    settings: Settings,
) -> None:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = await apikeys.create_key(conn, "representations")
    schema = {"query": "{ __schema { queryType { name } } __typename }"}
    async with live_server(create_app(settings)) as client:
        data = await client.get("/graphql", params=LONG)
        introspection = await client.get("/graphql", params=schema)
        keyed = await client.get(
            "/graphql", params=LONG, headers={"authorization": f"Bearer {key.key}"}
        )
    namespace, versioned = data.headers["surrogate-key"].split()
    assert namespace == "data" and versioned.startswith("data:v")
    assert introspection.headers["surrogate-key"] == "schema"
    assert keyed.headers["cache-control"] == "private, no-store"
    assert "surrogate-key" not in keyed.headers
    assert {"Cookie", "Authorization"} <= {v.strip() for v in keyed.headers["vary"].split(",")}


async def test_the_fast_path_and_the_full_path_send_the_same_header_values(
    settings: Settings,
) -> None:
    """A hit answered before Starlette (anonymous) and one answered after the key check
    (the full path) differ in nothing a cache or a client reads."""
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = await apikeys.create_key(conn, "two-paths")
    body = {"query": PAGE, "variables": {"n": 40}}
    for accept_encoding in ("br", "identity", "gzip;q=0.5, zstd;q=0.2"):
        for accept in ("application/json", GRAPHQL_RESPONSE):
            headers = {"accept-encoding": accept_encoding, "accept": accept}
            async with live_server(create_app(settings)) as client:
                await client.post("/graphql", json=body, headers=headers)
                fast = await client.post("/graphql", json=body, headers=headers)
                full = await client.post(
                    "/graphql", json=body, headers=headers | {"authorization": f"Bearer {key.key}"}
                )
            assert fast.headers["x-cache"] == full.headers["x-cache"] == "hit"
            ignored = {"x-request-id", "date"}
            assert {k: v for k, v in fast.headers.items() if k not in ignored} == {
                k: v for k, v in full.headers.items() if k not in ignored
            }, (accept_encoding, accept)
            assert fast.content == full.content
