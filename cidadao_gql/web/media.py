"""Media types of GraphQL over HTTP: the one an answer is written in (from `Accept`) and the
one a POST body must be (`Content-Type`).

Our own parsing, because neither library at hand does what the spec asks: werkzeug's
MIMEAccept refuses `application/graphql-response+json; charset=utf-8` (it matches parameters
exactly) and python-mimeparse is case-sensitive and raises on a malformed range. Media types
are case-insensitive (RFC 9110 §8.3.1); a range that does not parse, or whose weight does
not, is ignored as if it had not been sent.
"""

from __future__ import annotations

from functools import lru_cache

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def _parameters(parts: list[str]) -> dict[str, str]:
    pairs = (part.partition("=") for part in parts)
    return {name.strip().lower(): value.strip().strip('"') for name, _, value in pairs}


def _ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, weight) for every range of an Accept header that parses."""
    ranges = []
    for entry in accept.split(","):
        media, *parts = entry.split(";")
        media = media.strip().lower()
        kind, slash, sub = media.partition("/")
        if not slash or not kind or not sub or "/" in sub:
            continue
        try:
            weight = float(_parameters(parts).get("q", "1"))
        except ValueError:
            continue
        if 0 <= weight <= 1:
            ranges.append((media, weight))
    return ranges


def _weight(offer: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The weight the most specific matching range gives `offer`, and how specific it was
    (2 exact, 1 `type/*`, 0 `*/*`); (0, -1) when none matches."""
    kind = offer.partition("/")[0]
    best = (0.0, -1)
    for media, weight in ranges:
        specificity = 2 if media == offer else 1 if media == f"{kind}/*" else 0
        if (specificity or media == "*/*") and specificity > best[1]:
            best = (weight, specificity)
    return best


# Both are read for every request, from headers a client sends the same each time (and
# parsing them was 1 % of our process on a node lookup): kept, for a bounded number of them.
@lru_cache(maxsize=256)
def answer_type(accept: str | None) -> str | None:
    """The media type to answer with, per GraphQL over HTTP: application/json for a client
    that names no type (no header, `*/*`, `application/*`: older clients), the weightier
    of the two when it names them, graphql-response+json on a tie; None when it accepts
    neither."""
    if accept is None or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    json, graphql = _weight(JSON, ranges), _weight(GRAPHQL_RESPONSE, ranges)
    if max(json[0], graphql[0]) == 0:
        return None
    if graphql[0] > json[0] or (graphql[0] == json[0] and graphql[1] == 2):
        return GRAPHQL_RESPONSE
    return JSON


def essence(content_type: str) -> str:
    """The media type of a Content-Type without its parameters, in lower case."""
    return content_type.partition(";")[0].strip().lower()


@lru_cache(maxsize=256)
def is_json_body(content_type: str | None) -> bool:
    """application/json in any case, with no charset or UTF-8's (JSON is UTF-8: RFC 8259)."""
    if content_type is None:
        return False
    _, *parts = content_type.split(";")
    charset = _parameters(parts).get("charset", "utf-8").lower()
    return essence(content_type) == JSON and charset in ("utf-8", "utf8")
