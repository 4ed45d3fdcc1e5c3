"""The coding the response cache's hits go out in is the one the compression middleware,
as the app calls it (middleware.Gate), answers in: a test that fails when they part.
The client's weights choose; the server's order only breaks ties."""

from __future__ import annotations

import gzip

import brotli
import httpx
import pytest
import zstandard
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cidadao_gql.web import encodings
from cidadao_gql.web.middleware import Gate

HEADERS = [
    "", "gzip", "br", "zstd", "br, gzip, zstd", "gzip, deflate, br, zstd", "gzip, deflate",
    "zstd;q=0, br", "zstd;q=0.1, br;q=1", "br;q=0, gzip;q=0.5", "*", "*;q=0", "identity",
    "deflate", "x-gzip", "GZIP", "br;q=0.0", "gzip;q=0.001", "zstd;q=abc, gzip",
    "br;q=1, zstd;q=0.1", "gzip;q=0.9, br;q=0.8", "*;q=0.5, gzip", "identity, gzip;q=0.5",
    "br;q=2, gzip", "gzip, *;q=0",
]  # fmt: skip


async def _page(_: Request) -> Response:
    return Response(b"x" * 2 * encodings.MINIMUM_SIZE, media_type="application/json")


@pytest.mark.parametrize("accept_encoding", HEADERS)
async def test_chosen_is_the_middlewares_choice(accept_encoding: str) -> None:
    page = Starlette(routes=[Route("/", _page)])
    app = Gate(page, compress=lambda app: encodings.compression_middleware(app, brotli_quality=3))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {"accept-encoding": accept_encoding} if accept_encoding else {}
        client.headers.pop("accept-encoding")
        answer = await client.get("/", headers=headers)
    sent = answer.headers.get("content-encoding", encodings.IDENTITY)
    assert encodings.chosen(accept_encoding or None) == sent


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [("br;q=1, zstd;q=0.1", "br"), ("zstd;q=0.1, br;q=1", "br"), ("gzip, br", "br"),
     ("br;q=0, gzip;q=0, zstd;q=0", "identity"), ("*;q=0.3, gzip;q=0.9", "gzip"),
     ("*", "zstd"), ("identity;q=1, br;q=0.5", "identity"), ("GZIP;Q=0.5", "gzip")],
)  # fmt: skip
def test_the_clients_weights_choose_and_q0_refuses(accept_encoding: str, coding: str) -> None:
    assert encodings.chosen(accept_encoding) == coding


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
def test_the_compressors_round_trip(coding: str) -> None:
    body = b'{"data": "' + "licitação ".encode() * 500 + b'"}'
    compressed = encodings.compressors(3)[coding](body)
    assert len(compressed) < len(body)
    decompress = {
        "zstd": zstandard.ZstdDecompressor().decompress,
        "br": brotli.decompress,
        "gzip": gzip.decompress,
    }[coding]
    assert decompress(compressed) == body
