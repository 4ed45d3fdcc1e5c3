"""The HTTP surface over real HTTP: compression negotiation, the body limit, and GET being
for queries only."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from dataclasses import replace

import brotli
import orjson
import pytest
import zstandard

from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import live_server

BIG = "{ contracts(first: 100) { nodes { number object finalValue signedOn } } }"  # ~15 KB
SMALL = "{ contracts(first: 1) { nodes { number } } }"


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("br", "br"),
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("identity", None),
        ("br, gzip, zstd", "zstd"),
    ],
)
async def test_compression_is_negotiated(
    settings: Settings, accept: str, encoding: str | None
) -> None:
    async with live_server(create_app(settings)) as client:
        raw = await client.post(
            "/graphql", json={"query": BIG}, headers={"accept-encoding": accept}, extensions={}
        )
    assert raw.headers.get("content-encoding") == encoding
    assert raw.json()["data"]["contracts"]["nodes"]  # httpx decodes what it was sent
    if encoding is not None:
        assert int(raw.headers["content-length"]) < len(raw.content)


async def test_small_answers_are_not_compressed(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.post(
            "/graphql", json={"query": SMALL}, headers={"accept-encoding": "br, gzip"}
        )
    assert "content-encoding" not in answer.headers
    assert len(answer.content) < 1024


async def test_compressed_bytes_decode_to_the_plain_answer(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        plain = await client.post(
            "/graphql", json={"query": BIG}, headers={"accept-encoding": "identity"}
        )
        for codec, decode in (
            ("br", brotli.decompress),
            ("zstd", zstandard.ZstdDecompressor().decompressobj().decompress),
        ):
            async with client.stream(
                "POST", "/graphql", json={"query": BIG}, headers={"accept-encoding": codec}
            ) as streamed:
                wire = b"".join([chunk async for chunk in streamed.aiter_raw()])
            assert orjson.loads(decode(wire))["data"] == plain.json()["data"]


async def test_an_oversized_body_is_refused(settings: Settings) -> None:
    small = replace(settings, max_body_bytes=2048)
    async with live_server(create_app(small)) as client:
        declared = await client.post(
            "/graphql",
            content=b"{" + b" " * 4096 + b"}",
            headers={"content-type": "application/json"},
        )

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
            for _ in range(8):
                yield b" " * 512

        undeclared = await client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        fine = await client.post("/graphql", json={"query": SMALL})
    for answer in (declared, undeclared):
        assert answer.status_code == 413
        extensions = answer.json()["errors"][0]["extensions"]
        assert extensions == {
            "code": "PAYLOAD_TOO_LARGE",
            "maxBytes": 2048,
            "requestId": answer.headers["x-request-id"],
        }
    assert fine.status_code == 200


async def test_mutations_over_get_are_refused_with_405(settings: Settings) -> None:
    mutation = (
        'mutation { cancelInvestigation(id: "00000000-0000-0000-0000-000000000000") { status } }'
    )
    async with live_server(create_app(settings)) as client:
        answer = await client.get("/graphql", params={"query": mutation})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_batch_answers_each_operation_on_its_own(settings: Settings) -> None:
    batch = [
        {"query": SMALL},
        {"query": "{ contracts(first: 500) { nodes { id } } }"},  # refused: page too big
        {"query": "{ agencies(first: 7) { nodes { name } } }"},
    ]
    async with live_server(create_app(settings)) as client:
        answer = await client.post("/graphql", json=batch)
    assert answer.status_code == 200
    first, failing, last = answer.json()
    assert first["data"]["contracts"]["nodes"] and "errors" not in first
    assert failing["errors"][0]["extensions"]["code"] == "INVALID_PAGE_SIZE"
    assert len(last["data"]["agencies"]["nodes"]) == 7
    costs = [r["extensions"]["cost"]["requestedQueryCost"] for r in (first, failing, last)]
    # each its own (1 + a point per 5 rows), not the batch's: they once all said the last's
    assert costs == [1 + 1, 1 + 100 // 5, 1 + 2]  # rows past 100 are never answered


async def test_a_batch_over_the_limit_is_refused(settings: Settings) -> None:
    async with live_server(create_app(replace(settings, batch_size=3))) as client:
        answer = await client.post("/graphql", json=[{"query": SMALL}] * 4)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


GOOD = "{ agencies(first: 1) { nodes { name } } }"
INVALID = "{ agencies(first: 1) { nodes { colour } } }"


@pytest.mark.parametrize(
    ("accept", "query", "status", "media", "has_data"),
    [
        ("application/graphql-response+json", GOOD, 200, "application/graphql-response+json", True),
        (
            "application/graphql-response+json",
            INVALID,
            400,
            "application/graphql-response+json",
            False,
        ),
        ("application/json", INVALID, 200, "application/json", True),
        ("", INVALID, 200, "application/json", True),
        (
            "application/graphql-response+json, application/json;q=0.9",
            GOOD,
            200,
            "application/graphql-response+json",
            True,
        ),
    ],
)
async def test_media_types_and_status_codes_follow_graphql_over_http(
    settings: Settings, accept: str, query: str, status: int, media: str, has_data: bool
) -> None:
    headers = {"accept": accept} if accept else {}
    async with live_server(create_app(replace(settings, response_cache_ttl=0))) as client:
        answer = await client.post("/graphql", json={"query": query}, headers=headers)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith(media)
    assert ("data" in answer.json()) is has_data


async def test_unacceptable_and_unsupported_requests(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        xml = await client.post(
            "/graphql", json={"query": GOOD}, headers={"accept": "application/xml"}
        )
        form = await client.post(
            "/graphql",
            content=b"query=x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert (
        xml.status_code == 406 and xml.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    )
    assert (
        form.status_code == 415
        and form.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    )


async def test_cors_is_configurable(settings: Settings) -> None:
    allowed = replace(settings, cors_origins=("https://painel.example",))
    preflight = {"origin": "https://painel.example", "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type"}  # fmt: skip
    async with live_server(create_app(allowed)) as client:
        ok = await client.options("/graphql", headers=preflight)
        other = await client.options(
            "/graphql", headers={**preflight, "origin": "https://evil.example"}
        )
    async with live_server(create_app(settings)) as client:
        closed = await client.post(
            "/graphql", json={"query": GOOD}, headers={"origin": "https://painel.example"}
        )
    assert (
        ok.status_code == 200
        and ok.headers["access-control-allow-origin"] == "https://painel.example"
    )
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in closed.headers
    # a refused preflight is a refusal as any other: JSON, a stable code, the request id
    assert other.status_code == 400 and other.headers["x-request-id"]
    assert other.json()["errors"][0]["extensions"]["code"] == "CORS_REFUSED"
    assert "origin" in other.json()["errors"][0]["message"]


async def test_a_preflight_of_a_method_or_header_not_allowed_is_refused_as_json(
    settings: Settings,
) -> None:
    allowed = replace(settings, cors_origins=("https://painel.example",))
    preflight = {"origin": "https://painel.example", "access-control-request-method": "PUT"}
    async with live_server(create_app(allowed)) as client:
        method = await client.options("/graphql", headers=preflight)
        plain = await client.options("/graphql")  # no preflight: the app's own 405
    assert method.status_code == 400
    assert method.json()["errors"][0]["extensions"]["code"] == "CORS_REFUSED"
    assert "method" in method.json()["errors"][0]["message"]
    assert plain.status_code == 405


async def test_introspection_can_be_disabled(settings: Settings) -> None:
    query = "{ __schema { queryType { name } } }"
    async with live_server(create_app(replace(settings, introspection=False))) as client:
        refused = await client.post("/graphql", json={"query": query})
    async with live_server(create_app(settings)) as client:
        allowed = await client.post("/graphql", json={"query": query})
    assert refused.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert allowed.json()["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize("codec", ["br", "gzip", "zstd"])
async def test_streamed_responses_are_compressed_as_they_go(settings: Settings, codec: str) -> None:
    """The same compression layer over a response sent in many chunks (as an NDJSON export
    or an incremental answer would be): compressed on the fly, decoded whole."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from cidadao_gql.web.app import compression

    lines = [orjson.dumps({"n": n, "object": "aquisição de material"}) + b"\n" for n in range(2000)]

    async def rows() -> AsyncIterator[bytes]:
        for line in lines:
            yield line

    async def export(_: object) -> StreamingResponse:
        return StreamingResponse(rows(), media_type="application/json")

    app = Starlette(
        routes=[Route("/export", export)], middleware=[Middleware(compression(settings))]
    )
    async with (
        live_server(app) as client,
        client.stream("GET", "/export", headers={"accept-encoding": codec}) as answer,
    ):
        assert answer.headers["content-encoding"] == codec
        assert "content-length" not in answer.headers  # streamed, not buffered whole
        wire = b"".join([chunk async for chunk in answer.aiter_raw()])
        assert len(wire) < sum(map(len, lines)) // 4
    decode = {"br": brotli.decompress, "gzip": gzip.decompress,
              "zstd": zstandard.ZstdDecompressor().decompressobj().decompress}[codec]  # fmt: skip
    assert decode(wire) == b"".join(lines)


VARIABLES_QUERY = "query($n: Int!) { agencies(first: $n) { nodes { name } } }"


async def test_get_takes_url_encoded_variables_and_operation_name(settings: Settings) -> None:
    document = VARIABLES_QUERY.replace("query(", "query Named(")
    async with live_server(create_app(settings)) as client:
        answer = await client.get(
            "/graphql",
            params={"query": document, "variables": '{"n": 2}', "operationName": "Named"},
            headers={"accept": "application/graphql-response+json"},
        )
    assert answer.status_code == 200
    assert len(answer.json()["data"]["agencies"]["nodes"]) == 2


@pytest.mark.parametrize(
    ("method", "request_parts"),
    [
        ("POST", {"content": b'{"query": '}),  # not JSON
        ("POST", {"content": b'"just a string"'}),  # JSON, not an object
        ("POST", {"content": b'{"variables": {}}'}),  # no query
        ("POST", {"content": b'{"query": 42}'}),  # query not a string
        ("POST", {"content": b'{"query": "{ __typename }", "variables": [1]}'}),
        ("GET", {"params": {"query": VARIABLES_QUERY, "variables": "{not json"}}),
        ("GET", {"params": {"query": "{ __typename }", "extensions": "[oops"}}),
        ("GET", {"params": {}}),
    ],
    ids=[
        "body-not-json",
        "body-not-object",
        "no-query",
        "query-not-string",
        "variables-not-object",
        "get-variables-not-json",
        "get-extensions-not-json",
        "get-no-query",
    ],
)
async def test_malformed_requests_get_a_clear_400(
    settings: Settings, method: str, request_parts: dict[str, object]
) -> None:
    headers = {"content-type": "application/json", "accept": "application/json"}
    async with live_server(create_app(settings)) as client:
        answer = await client.request(method, "/graphql", headers=headers, **request_parts)  # type: ignore[arg-type]
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["message"] and error["extensions"]["code"] == "BAD_REQUEST"
