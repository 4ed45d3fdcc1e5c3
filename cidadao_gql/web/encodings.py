"""Content codings of answers: the middleware that compresses what the app answers, the
coding it picks for a request, and the same compressors for the response cache, which
keeps each cached answer compressed once per coding (response_cache.Variants).

The client's weights choose (RFC 9110 §12.5.3): `br;q=1, zstd;q=0.1` gets Brotli, `q=0`
refuses a coding, `*` weighs every coding not named; the server's order (zstd, Brotli,
gzip) only breaks ties. starlette-compress picks by its own order among all positive
weights, so the app hands it the one coding chosen here (middleware.Gate rewrites the
header); tests/test_encodings.py runs both and fails when they part.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

import brotli
import zstandard
from starlette.types import ASGIApp
from starlette_compress import CompressMiddleware

IDENTITY = "identity"
PREFERENCE = ("zstd", "br", "gzip")  # on equal weights (CompressMiddleware.__call__'s order)
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


def weights(accept_encoding: str) -> dict[str, float]:
    """Each coding an Accept-Encoding names, in lower case, with its weight (1 when none
    is given); an entry whose weight does not parse or lies outside 0..1 is ignored."""
    found: dict[str, float] = {}
    for entry in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in entry.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = -1.0
        if coding and 0.0 <= weight <= 1.0:
            found.setdefault(coding.lower(), weight)
    return found


def chosen(accept_encoding: str | None) -> str:
    """The coding an answer of at least MINIMUM_SIZE bytes goes out in for a request with
    `Accept-Encoding: accept_encoding`: the weightiest one we have, the server's order on a
    tie; identity when none weighs more than 0, or when identity is named and weighs more."""
    if not accept_encoding:
        return IDENTITY
    given = weights(accept_encoding)
    anything = given.get("*", 0.0)
    best = max(PREFERENCE, key=lambda c: (given.get(c, anything), -PREFERENCE.index(c)))
    weight = given.get(best, anything)
    if weight <= 0.0 or given.get(IDENTITY, -1.0) > weight:
        return IDENTITY
    return best


def compressors(brotli_quality: int) -> dict[str, Callable[[bytes], bytes]]:
    """One-shot compressors at the middleware's levels (gzip with no timestamp, so that a
    body compresses to the same bytes in every process)."""
    zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return {
        "zstd": zstd.compress,
        "br": lambda body: bytes(brotli.compress(body, quality=brotli_quality)),
        "gzip": lambda body: gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
    }
