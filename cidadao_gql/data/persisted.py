"""Persisted documents: Apollo's automatic persisted queries (a client sends the SHA-256
of a document; the server remembers documents it was sent once, in Redis or in process)
and trusted documents (registered in advance; with PERSISTED_QUERIES_ONLY the only ones
that run)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cidadao_gql.data.db import Database
from cidadao_gql.errors import (
    BadUserInput,
    PersistedQueryMismatch,
    PersistedQueryNotFound,
    TrustedDocumentRequired,
)

APQ_PREFIX = "cidadao:apq:"
APQ_TTL = 7 * 24 * 3600
LOCAL_KEPT = 10_000


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PersistedDocuments:
    def __init__(self, db: Database, redis: aioredis.Redis | None, trusted_only: bool) -> None:
        self.db = db
        self.redis = redis
        self.trusted_only = trusted_only
        self.local: OrderedDict[str, str] = OrderedDict()
        self.trusted_seen: dict[str, str] = {}

    async def remembered(self, digest: str) -> str | None:
        if self.redis is not None:
            try:
                found = await self.redis.get(APQ_PREFIX + digest)
                if found is not None:
                    return found.decode() if isinstance(found, bytes) else str(found)
            except (RedisError, OSError):
                pass  # fall back to this process's memory
        return self.local.get(digest)

    async def remember(self, digest: str, query: str) -> None:
        self.local[digest] = query
        while len(self.local) > LOCAL_KEPT:
            self.local.popitem(last=False)
        if self.redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.redis.set(APQ_PREFIX + digest, query, ex=APQ_TTL)

    async def trusted(self, digest: str) -> str | None:
        if digest not in self.trusted_seen:
            found = await self.db.fetchval(
                "SELECT document FROM trusted_documents WHERE hash = $1", digest
            )
            if found is None:
                return None
            self.trusted_seen[digest] = found
        return self.trusted_seen[digest]

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document to run, from the request's query and `extensions.persistedQuery`."""
        if extensions is not None and not isinstance(extensions, dict):
            raise BadUserInput("`extensions` must be an object")
        persisted = (extensions or {}).get("persistedQuery")
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if digest is not None and not isinstance(digest, str):
            raise PersistedQueryMismatch("persistedQuery.sha256Hash must be a string")
        if query is not None and digest is not None and sha256(query) != digest:
            raise PersistedQueryMismatch(
                "the query's SHA-256 is not the sha256Hash given", sha256Hash=digest
            )
        if self.trusted_only:
            document = await self.trusted(digest or sha256(query or ""))
            if document is None:
                raise TrustedDocumentRequired(
                    "this server runs registered documents only",
                    sha256Hash=digest or sha256(query or ""),
                )
            return document
        if query is None and digest is not None:
            document = await self.remembered(digest)
            if document is None:
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            return document
        if query is not None and digest is not None:
            await self.remember(digest, query)
        return query


def read_documents(directory: Path) -> list[tuple[str, str]]:
    """(name, text) of every `.graphql` file below `directory`."""
    return [
        (str(path.relative_to(directory)), path.read_text(encoding="utf-8"))
        for path in sorted(directory.rglob("*.graphql"))
    ]


async def register_directory(conn: asyncpg.Connection, directory: Path) -> list[tuple[str, str]]:
    """Register every `.graphql` file below `directory`; returns (name, hash) pairs."""
    registered = []
    for name, document in await asyncio.to_thread(read_documents, directory):
        digest = sha256(document)
        await conn.execute(
            """INSERT INTO trusted_documents (hash, name, document) VALUES ($1, $2, $3)
               ON CONFLICT (hash) DO NOTHING""",
            digest,
            name,
            document,
        )
        registered.append((name, digest))
    return registered
