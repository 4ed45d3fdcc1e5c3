"""Whole-response caching over HTTP, and entity rows served from the cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from prometheus_client import REGISTRY

from cidadao_gql import metrics
from cidadao_gql.data.cache import TieredCache
from cidadao_gql.data.db import Database
from cidadao_gql.data.loaders import Loaders
from cidadao_gql.schema.context import Context
from cidadao_gql.settings import Settings
from cidadao_gql.web import encodings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.response_cache import document_key
from tests.conftest import live_server

JSON = {"content-type": "application/json"}
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
    assert first.headers["cache-control"] == (
        f"public, max-age={settings.response_cache_ttl}, s-maxage={settings.edge_max_age}, "
        f"stale-while-revalidate={settings.edge_stale_while_revalidate}"
    )
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
        before = hits("fast", "identity"), hits("full", "identity")
        fast = await client.post("/graphql", json=body)
        authenticated = await client.post(
            "/graphql", json=body, headers={"authorization": f"Bearer {key.key}"}
        )
        bad_key = await client.post("/graphql", json=body, headers={"authorization": "Bearer nope"})
        assert hits("fast", "identity") - before[0] == 1  # httpx's Accept-Encoding and all
        assert hits("full", "identity") - before[1] == 1  # the key's
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


# A page long enough to be compressed (the minimum is 1 KB).
LONG = {"query": PAGE, "variables": {"n": 40}}
BROWSER = {
    "accept-encoding": "br, gzip, zstd",
    "origin": "https://painel.example.org",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "accept": "*/*",
}


def hits(path: str, encoding: str) -> float:
    metrics.flush()
    labels = {"path": path, "encoding": encoding}
    return REGISTRY.get_sample_value("cidadao_ai_response_cache_hits_total", labels) or 0.0


def compressions(encoding: str) -> float:
    labels = {"encoding": encoding}
    return REGISTRY.get_sample_value("cidadao_ai_response_cache_encodings_total", labels) or 0.0


async def test_a_browsers_hit_takes_the_fast_path_compressed_once(settings: Settings) -> None:
    """A browser's request (Accept-Encoding, Origin, a user agent) is answered by the fast
    path, in zstd (the server's first choice, as the compression middleware picks it),
    compressed on the first hit only; the decoded bytes are the uncompressed answer's."""
    app = create_app(replace(settings, cors_origins=(BROWSER["origin"],)))
    async with live_server(app) as client:
        client.headers.pop("accept-encoding")
        plain = await client.post("/graphql", json=LONG)  # the miss, stored
        identity = await client.post("/graphql", json=LONG)
        fast, made = hits("fast", "zstd"), compressions("zstd")
        answers = [await client.post("/graphql", json=LONG, headers=BROWSER) for _ in range(5)]
        assert hits("fast", "zstd") - fast == 5
        assert compressions("zstd") - made == 1
    assert plain.headers["x-cache"] == "miss" and identity.headers["x-cache"] == "hit"
    assert "content-encoding" not in identity.headers
    assert len(identity.content) >= encodings.MINIMUM_SIZE
    for answer in answers:
        assert answer.headers["x-cache"] == "hit"
        assert answer.headers["content-encoding"] == "zstd"
        assert answer.headers["vary"] == "Accept-Encoding, Accept, Origin"  # CORS adds its own
        assert answer.headers["access-control-allow-origin"] == BROWSER["origin"]
        assert int(answer.headers["content-length"]) < len(identity.content)
        assert answer.content == identity.content  # httpx decoded it


async def test_q_values_choose_the_coding_as_the_middleware_does(settings: Settings) -> None:
    """Each coding, and q=0 refusing one; what a client that accepts none of them gets."""
    cases = {
        "gzip": "gzip",
        "br": "br",
        "zstd;q=0.1, br;q=1": "br",  # the client's weights; the server's order on a tie
        "br;q=0.5, gzip;q=0.5": "br",
        "zstd;q=0, br": "br",
        "zstd;q=0, br;q=0, gzip;q=0.5": "gzip",
        "*": "zstd",
        "identity": None,
        "deflate": None,
    }
    async with live_server(create_app(settings)) as client:
        client.headers.pop("accept-encoding")
        await client.post("/graphql", json=LONG)  # the miss, stored
        identity = (await client.post("/graphql", json=LONG)).content
        fast = hits("fast", "identity")
        answers = {
            sent: await client.post("/graphql", json=LONG, headers={"accept-encoding": sent})
            for sent in cases
        }
        missing = await client.post("/graphql", json=LONG)
        assert hits("fast", "identity") - fast == 3  # identity, deflate, none
    for sent, coding in cases.items():
        assert answers[sent].headers["x-cache"] == "hit", sent
        assert answers[sent].headers.get("content-encoding") == coding, sent
        assert answers[sent].headers["vary"] == "Accept-Encoding, Accept", sent
        assert answers[sent].content == identity, sent
    assert "content-encoding" not in missing.headers and missing.content == identity


async def test_curl_decodes_each_coding_to_the_uncompressed_answer(settings: Settings) -> None:
    """curl, another client's decoders: `--compressed` with one coding asked for at a time."""
    body = orjson.dumps(LONG)
    async with live_server(create_app(settings)) as client:
        url = str(client.base_url.join("/graphql"))
        client.headers.pop("accept-encoding")
        await client.post("/graphql", content=body, headers=JSON)  # the miss, stored
        identity = (await client.post("/graphql", content=body, headers=JSON)).content
        decoded = {}
        for coding in ("identity", "gzip", "br", "zstd"):
            out = await curl(url, body, "--compressed", "-H", f"accept-encoding: {coding}")
            headers, _, content = out.partition(b"\r\n\r\n")
            assert b"x-cache: hit" in headers, headers
            decoded[coding] = content
        raw = await curl(url, body)  # no Accept-Encoding at all
    assert all(content == identity for content in decoded.values())
    assert raw.partition(b"\r\n\r\n")[2] == identity
    assert b"content-encoding" not in raw.partition(b"\r\n\r\n")[0].lower()


async def curl(url: str, body: bytes, *options: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-i", "-X", "POST", "-H", "content-type: application/json",
        "--data-binary", "@-", *options, url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate(body)
    assert process.returncode == 0
    return out


async def test_graphql_clients_take_the_fast_path_in_their_media_type(settings: Settings) -> None:
    """An Accept naming application/graphql-response+json (Apollo, urql, graphql-http) is
    answered in it, on the fast path; one that accepts no answer type goes on to its 406."""
    accept = "application/graphql-response+json, application/json;q=0.9"
    async with live_server(create_app(settings)) as client:
        await client.post("/graphql", json=LONG)
        fast = hits("fast", "zstd")
        answer = await client.post("/graphql", json=LONG, headers={"accept": accept})
        assert hits("fast", "zstd") - fast == 1
        refused = await client.post("/graphql", json=LONG, headers={"accept": "text/html"})
    assert answer.headers["content-type"] == "application/graphql-response+json"
    assert answer.json()["data"]["contracts"]["nodes"]
    assert refused.status_code == 406


async def test_the_full_paths_hits_keep_compressed_variants_with_their_own_etags(
    settings: Settings,
) -> None:
    """An authenticated hit and a GET hit are served from the same kept variants; each
    coding of a GET answer has its own ETag, which gets a 304."""
    from cidadao_gql.data import apikeys
    from tests.conftest import connect

    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = await apikeys.create_key(conn, "variants")
    params = {"query": PAGE, "variables": '{"n": 40}'}
    async with live_server(create_app(settings)) as client:
        client.headers.pop("accept-encoding")
        plain = await client.get("/graphql", params=params)
        full, made = hits("full", "br"), compressions("br")
        signed = await client.post(
            "/graphql",
            json=LONG | {"variables": {"n": 40}},
            headers={"authorization": f"Bearer {key.key}", "accept-encoding": "br"},
        )
        gets = [
            await client.get("/graphql", params=params, headers={"accept-encoding": "br"})
            for _ in range(3)
        ]
        assert hits("full", "br") - full == 4
        assert compressions("br") - made == 1  # one answer, whichever the method
        again = await client.get(
            "/graphql",
            params=params,
            headers={"accept-encoding": "br", "if-none-match": gets[0].headers["etag"]},
        )
    assert signed.headers["x-cache"] == "hit" and signed.headers["content-encoding"] == "br"
    assert {g.headers["content-encoding"] for g in gets} == {"br"}
    assert all(g.content == plain.content for g in gets)
    assert gets[0].headers["etag"] == plain.headers["etag"][:-1] + '-br"'
    assert again.status_code == 304 and again.headers["etag"] == gets[0].headers["etag"]


async def test_the_kept_variants_are_compressed_at_compression_level(settings: Settings) -> None:
    """COMPRESSION_LEVEL is the Brotli quality of the variants the cache keeps, as it is
    of what the middleware compresses."""
    sizes = {}
    for level in (0, 11):
        async with live_server(create_app(replace(settings, compression_level=level))) as client:
            client.headers.pop("accept-encoding")
            await client.post("/graphql", json=LONG)  # the miss, stored
            identity = (await client.post("/graphql", json=LONG)).content
            answer = await client.post("/graphql", json=LONG, headers={"accept-encoding": "br"})
        assert answer.headers["content-encoding"] == "br" and answer.content == identity
        sizes[level] = int(answer.headers["content-length"])
    assert sizes[11] < sizes[0]


async def test_the_fast_path_echoes_a_sane_request_id(settings: Settings) -> None:
    """As the full path does: the caller's X-Request-ID when it is sane, else a new one."""
    async with live_server(create_app(settings)) as client:
        await client.post("/graphql", json=LONG)  # the miss, stored
        fast = hits("fast", "zstd")
        given = await client.post("/graphql", json=LONG, headers={"x-request-id": "trace-1.a_b"})
        insane = await client.post("/graphql", json=LONG, headers={"x-request-id": "no spaces!"})
        assert hits("fast", "zstd") - fast == 2
    assert given.headers["x-cache"] == insane.headers["x-cache"] == "hit"
    assert given.headers["x-request-id"] == "trace-1.a_b"
    assert insane.headers["x-request-id"] != "no spaces!"
    assert len(insane.headers["x-request-id"]) == 32


async def test_duplicated_headers_are_answered_by_the_full_path(settings: Settings) -> None:
    """Two Content-Types (or Accepts, or X-Request-IDs): the full path reads the first, so
    the fast path does not answer, and every worker answers alike: latin-1 first is a 415
    wherever the answer is cached, application/json first a hit."""
    body = orjson.dumps(LONG)
    latin, json = "application/json;charset=latin-1", "application/json"
    async with live_server(create_app(settings)) as client:
        await client.post("/graphql", content=body, headers=JSON)  # the miss, stored
        fast, full = hits("fast", "zstd"), hits("full", "zstd")
        refused = await client.post(
            "/graphql", content=body, headers=[("content-type", latin), ("content-type", json)]
        )
        taken = await client.post(
            "/graphql", content=body, headers=[("content-type", json), ("content-type", latin)]
        )
        accepts = await client.post(
            "/graphql", content=body,
            headers=[*JSON.items(), ("accept", "text/html"), ("accept", "application/json")],
        )  # fmt: skip
        ids = await client.post(
            "/graphql", content=body,
            headers=[*JSON.items(), ("x-request-id", "one"), ("x-request-id", "two")],
        )  # fmt: skip
        assert hits("fast", "zstd") - fast == 0
        assert hits("full", "zstd") - full == 2  # the first Content-Type's hit, the ids'
    assert refused.status_code == 415
    assert taken.status_code == 200 and taken.headers["x-cache"] == "hit"
    assert accepts.status_code == 406
    assert ids.headers["x-request-id"] == "one"


async def test_two_accept_encodings_choose_one_coding_on_every_path(settings: Settings) -> None:
    """Combined as one field (RFC 9110 §5.3), `identity` then `gzip` accept gzip: the miss
    (the compression middleware), a GET hit (the full path) and a POST hit (the fast path)."""
    body = orjson.dumps(LONG)
    twice = [*JSON.items(), ("accept-encoding", "identity"), ("accept-encoding", "gzip")]
    params = {"query": PAGE, "variables": orjson.dumps(LONG["variables"]).decode()}
    async with live_server(create_app(settings)) as client:
        client.headers.pop("accept-encoding")
        miss = await client.post("/graphql", content=body, headers=twice)
        fast = hits("fast", "gzip")
        hit = await client.post("/graphql", content=body, headers=twice)
        assert hits("fast", "gzip") - fast == 1
        full = hits("full", "gzip")
        got = await client.get("/graphql", params=params, headers=twice[1:])
        assert hits("full", "gzip") - full == 1
    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert {a.headers.get("content-encoding") for a in (miss, hit, got)} == {"gzip"}
    assert hit.content == got.content and hit.json()["data"] == miss.json()["data"]


async def test_cookies_other_than_the_session_leave_a_hit_on_the_fast_path(
    settings: Settings,
) -> None:
    """An analytics cookie says nothing about who asks: the fast path answers; the session's
    cookie, alone or among others, sends the request to the full path (its user, its CSRF
    check)."""
    async with live_server(create_app(settings)) as client:
        await client.post("/graphql", json=LONG)  # the miss, stored
        fast = hits("fast", "zstd")
        analytics = await client.post("/graphql", json=LONG, headers={"cookie": "_ga=GA1.2.3"})
        assert hits("fast", "zstd") - fast == 1
        for cookie in ("cgql_session=x", "_ga=GA1.2.3; cgql_session=x"):
            await client.post("/graphql", json=LONG, headers={"cookie": cookie})
        assert hits("fast", "zstd") - fast == 1
    assert analytics.headers["x-cache"] == "hit"


async def test_if_none_match_star_gets_a_304_over_get(settings: Settings) -> None:
    """`*` matches any current answer (RFC 9110 §13.1.2): a public query has one, made on
    the miss if need be."""
    params = {"query": PAGE, "variables": '{"n": 2}'}
    async with live_server(create_app(settings)) as client:
        first = await client.get("/graphql", params=params, headers={"if-none-match": "*"})
        again = await client.get("/graphql", params=params, headers={"if-none-match": "*"})
    assert (first.status_code, first.headers["x-cache"]) == (304, "miss")
    assert (again.status_code, again.headers["x-cache"]) == (304, "hit")
    assert again.content == b"" and again.headers["etag"] == first.headers["etag"]


async def test_every_answer_names_accept_encoding_once_in_one_vary(settings: Settings) -> None:
    """A miss without Accept-Encoding, a small fast-path hit, a GET hit in identity (the
    compression middleware names it too), a POST from an origin: with CORS (which names Origin
    for every answer when origins are listed) after it."""
    small = {"query": PAGE, "variables": {"n": 1}}
    params = {"query": PAGE, "variables": '{"n": 40}'}
    origin = "https://painel.example.org"
    app = create_app(replace(settings, cors_origins=(origin,)))
    async with live_server(app) as client:
        client.headers.pop("accept-encoding")
        miss = await client.post("/graphql", json=small)
        hit = await client.post("/graphql", json=small)
        await client.get("/graphql", params=params)
        identity = await client.get(
            "/graphql", params=params, headers={"accept-encoding": "identity"}
        )
        cors = await client.post("/graphql", json=LONG, headers={"origin": origin})
    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert identity.headers["x-cache"] == "hit" and "content-encoding" not in identity.headers
    for answer in (miss, hit, identity, cors):
        assert answer.headers.get_list("vary") == ["Accept-Encoding, Accept, Origin"]


async def test_private_answers_over_get_are_kept_by_no_cache(settings: Settings) -> None:
    """A viewer's answer with a key: `private, no-store`, varying on the credentials; a
    public one stays public."""
    from cidadao_gql.data import apikeys
    from tests.conftest import connect

    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = await apikeys.create_key(conn, "private-get")
    bearer = {"authorization": f"Bearer {key.key}"}
    async with live_server(create_app(settings)) as client:
        private = await client.get(
            "/graphql", params={"query": "{ viewer { id } }"}, headers=bearer
        )
        public = await client.get("/graphql", params={"query": PAGE, "variables": '{"n": 1}'})
    assert private.status_code == 200 and private.json()["data"]["viewer"]
    assert private.headers["cache-control"] == "private, no-store"
    assert {"Cookie", "Authorization"} <= {v.strip() for v in private.headers["vary"].split(",")}
    assert public.headers["cache-control"].startswith("public")


async def test_a_disallowed_origin_gets_no_allow_credentials(settings: Settings) -> None:
    allowed = "https://painel.example.org"
    on = replace(settings, cors_origins=(allowed,), session_secret="s" * 32)
    async with live_server(create_app(on)) as client:
        ours = await client.post("/graphql", json=LONG, headers={"origin": allowed})
        other = await client.post("/graphql", json=LONG, headers={"origin": "https://evil.example"})
    assert ours.headers["access-control-allow-credentials"] == "true"
    assert ours.headers["access-control-allow-origin"] == allowed
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-credentials" not in other.headers
