"""Content codings of answers: the middleware that compresses what the app answers, the
coding it picks for a request, and the same compressors for the response cache, which
keeps each cached answer compressed once per coding (response_cache.Variants).

The one place that knows starlette-compress's choice: positive q-values make a coding
eligible, then the server's order picks (zstd, Brotli, gzip), not the client's weights.
tests/test_encodings.py runs the middleware beside `chosen` and fails when they part.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

import brotli
import zstandard
from starlette.types import ASGIApp
from starlette_compress import CompressMiddleware
from starlette_compress._utils import parse_accept_encoding  # its own parser: the same choice

IDENTITY = "identity"
PREFERENCE = ("zstd", "br", "gzip")  # CompressMiddleware.__call__'s order
MINIMUM_SIZE = 1024  # smaller answers go out as they are: the codings' headers eat the gain
ZSTD_LEVEL = 3
GZIP_LEVEL = 6


def compression_middleware(app: ASGIApp, brotli_quality: int) -> CompressMiddleware:
    return CompressMiddleware(
        app,
        minimum_size=MINIMUM_SIZE,
        brotli_quality=brotli_quality,
        zstd_level=ZSTD_LEVEL,
        gzip_level=GZIP_LEVEL,
    )


def chosen(accept_encoding: str | None) -> str:
    """The coding the middleware answers a request with `Accept-Encoding: accept_encoding`
    in, for a body of at least MINIMUM_SIZE bytes."""
    if not accept_encoding:
        return IDENTITY
    accepted = parse_accept_encoding(accept_encoding)
    return next((coding for coding in PREFERENCE if coding in accepted), IDENTITY)


def compressors(brotli_quality: int) -> dict[str, Callable[[bytes], bytes]]:
    """One-shot compressors at the middleware's levels (gzip with no timestamp, so that a
    body compresses to the same bytes in every process)."""
    zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return {
        "zstd": zstd.compress,
        "br": lambda body: bytes(brotli.compress(body, quality=brotli_quality)),
        "gzip": lambda body: gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
    }
