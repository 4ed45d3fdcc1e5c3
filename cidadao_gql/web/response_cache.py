"""Whole responses of public read operations, keyed by the normalized document, the
operation name and the variables. A hit in L1 answers without running GraphQL at all.

Public means: a query (not a mutation or subscription) that selects no private field
(`viewer`, `investigation`, `investigations`), whose answer had no errors. Hits are not charged to the cost bucket: serving
one costs next to nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    print_ast,
    visit,
)

from cidadao_gql import metrics
from cidadao_gql.data.cache import L1, L2, Policy, TieredCache
from cidadao_gql.data.cache.edge import SCHEMA, tags
from cidadao_gql.settings import Settings
from cidadao_gql.web import encodings
from cidadao_gql.web.graphql_params import parsed

PRIVATE_FIELDS = frozenset({"viewer", "investigation", "investigations"})


class _FindPrivate(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in PRIVATE_FIELDS:
            self.found = True


# Parsing runs before the schema's token limit, on any body up to MAX_BODY_BYTES: a
# megabyte of `a a a …` took 15 s of parsing. Past the limit, execution refuses it anyway.
DEFAULT_MAX_TOKENS = Settings().max_tokens


@lru_cache(maxsize=4096)
def operation_of(
    query: str, operation_name: str | None, max_tokens: int = DEFAULT_MAX_TOKENS
) -> tuple[DocumentNode, OperationDefinitionNode] | None:
    """The parsed document and the operation a request names; None when it does not parse
    within `max_tokens` or names no single operation (execution will say why)."""
    document = parsed(query, max_tokens)
    if document is None:
        return None
    chosen = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name and d.name.value == operation_name))
    ]
    return (document, chosen[0]) if len(chosen) == 1 else None


@lru_cache(maxsize=4096)
def document_key(
    query: str, operation_name: str | None, max_tokens: int = DEFAULT_MAX_TOKENS
) -> str | None:
    """The digest of the normalized document when the operation is a public query; None
    when it cannot be cached."""
    found = operation_of(query, operation_name, max_tokens)
    if found is None or found[1].operation is not OperationType.QUERY:
        return None
    document = found[0]
    private = _FindPrivate()
    visit(document, private)
    if private.found:
        return None
    return hashlib.sha256(print_ast(document).encode()).hexdigest()


@lru_cache(maxsize=4096)
def reads_data(
    query: str, operation_name: str | None, max_tokens: int = DEFAULT_MAX_TOKENS
) -> bool:
    """Whether the operation may read data; False only when it selects nothing but the
    schema (`__schema`, `__type`, `__typename` at its root), which no import changes."""
    found = operation_of(query, operation_name, max_tokens)
    if found is None:
        return True
    selections = found[1].selection_set.selections
    return not all(isinstance(s, FieldNode) and s.name.value.startswith("__") for s in selections)


class Variants:
    """The bytes hits send, per cached answer and content coding, made on the first hit
    with that coding: compressing a 40 KB page of 100 contracts takes 0.35 ms (zstd at 3)
    to 2 ms (gzip at 6) on a 2-core machine, many times what sending a hit costs, so it is
    done once, not on every hit. A variant is kept for the very body it was made from (`is`): when L1 holds
    a new body for the key, the old variant is made again. Bounded: past `max_entries`,
    the oldest made go first (a hot answer evicted is made again on its next hit)."""

    def __init__(self, max_entries: int, brotli_quality: int) -> None:
        self.max_entries = max_entries
        self.compress: dict[str, Callable[[bytes], bytes]] = encodings.compressors(brotli_quality)
        self.kept: dict[tuple[str, str], tuple[str, str, bytes]] = {}

    def encoded(self, key: str, body: str, coding: str) -> tuple[str, bytes]:
        """The coding the body goes out in (identity below the minimum size) and its bytes."""
        kept = self.kept.get((key, coding))
        if kept is not None and kept[0] is body:
            return kept[1], kept[2]
        data = body.encode()
        sent = coding if coding in self.compress and len(data) >= encodings.MINIMUM_SIZE else None
        if sent is not None:
            data = self.compress[sent](data)
            metrics.RESPONSE_ENCODINGS.labels(sent).inc()
        if len(self.kept) >= self.max_entries:
            del self.kept[next(iter(self.kept))]
        self.kept[(key, coding)] = (body, sent or encodings.IDENTITY, data)
        return sent or encodings.IDENTITY, data


class ResponseCache:
    def __init__(
        self,
        cache: TieredCache,
        ttl: int,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        brotli_quality: int = Settings().compression_level,
        edge_max_age: int = Settings().edge_max_age,
        stale_while_revalidate: int = Settings().edge_stale_while_revalidate,
    ) -> None:
        self.cache = cache
        self.ttl = ttl
        # browsers keep a public answer `ttl` seconds; shared caches (the edge, purged on
        # writes: data/cache/edge.py) `s-maxage`, and serve it stale while they refetch
        self.cache_control = (
            f"public, max-age={ttl}, s-maxage={edge_max_age}, "
            f"stale-while-revalidate={stale_while_revalidate}"
        )
        self.max_tokens = max_tokens
        self.policy = Policy("response", ttl=ttl, tiers=frozenset({L1, L2}))
        # every L1 entry may be an answer, in identity and the three codings
        self.variants = Variants(4 * cache.l1.max_entries, brotli_quality)

    def key(self, params: Mapping[str, Any]) -> str | None:
        query, name, variables = (
            params.get("query"),
            params.get("operationName"),
            params.get("variables"),
        )
        if self.ttl == 0 or not isinstance(query, str) or not isinstance(name, str | None):
            return None
        if not isinstance(variables, dict | None) or not isinstance(
            params.get("extensions"), dict | None
        ):
            return None
        document = document_key(query, name, self.max_tokens)
        if document is None:
            return None
        try:
            rest = orjson.dumps([name, variables], option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # nested past orjson's limit: graphql_params refuses it
            return None
        return f"{document}:{hashlib.sha1(rest, usedforsecurity=False).hexdigest()}"

    def tags(self, params: Mapping[str, Any]) -> str:
        """The Surrogate-Key of a public answer to `params`: what it read, at which version
        (the version the response cache keys it under)."""
        query, name = params.get("query"), params.get("operationName")
        name = name if isinstance(name, str) else None
        if isinstance(query, str) and not reads_data(query, name, self.max_tokens):
            return tags([(SCHEMA, None)])
        version = self.policy.version
        return tags([(version, self.cache.versions.get(version))])

    def in_memory(self, key: str) -> str | None:
        """An L1 hit, without awaiting anything: the fast path's whole lookup."""
        body: str | None = self.cache.in_memory(self.policy, key)
        return body

    async def lookup(self, key: str) -> str | None:
        body: str | None = await self.cache.peek(self.policy, key)
        return body

    async def store(self, key: str, answer: Mapping[str, Any]) -> str | None:
        """Keep an answer without errors; the body kept is what later hits will send."""
        if answer.get("errors") or answer.get("data") is None:
            return None
        cost = dict(answer.get("extensions", {}).get("cost") or {})
        cost["throttleStatus"] = None
        body = orjson.dumps({"data": answer["data"], "extensions": {"cost": cost}}).decode()
        await self.cache.put(self.policy, key, body)
        return body
