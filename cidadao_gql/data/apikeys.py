"""API keys: `Authorization: Bearer <key>`. Keys are random, shown once, stored as SHA-256.

A fast hash is enough here: keys carry 256 bits of randomness, so there is nothing to
guess, and a slow hash would tax every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import jwt

from cidadao_gql.data.db import Database
from cidadao_gql.data.ratelimit import Allowance
from cidadao_gql.errors import Unauthenticated

PREFIX = "cgk_"
SCOPES = frozenset({"read", "investigate", "admin"})


@dataclass(frozen=True, slots=True)
class User:
    id: str
    scopes: frozenset[str]
    key_id: int | None = None  # the API key it authenticated with, if it was one
    allowance: Allowance | None = None  # that key's own rate-limit bucket, if it has one

    @property
    def bulk(self) -> bool:
        """Whether this is a bulk key: an API key with an allowance of its own."""
        return self.allowance is not None and self.key_id is not None

    @property
    def bucket(self) -> str:
        """Whose bucket this user's operations are charged to: a key with an allowance has
        its own, so a bulk export does not drain what the user's other keys share."""
        return f"key:{self.key_id}" if self.bulk else f"user:{self.id}"


@dataclass(frozen=True, slots=True)
class NewKey:
    id: int
    key: str


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(
    conn: asyncpg.Connection,
    user_id: str,
    scopes: frozenset[str] = frozenset({"read"}),
    expires_at: datetime | None = None,
    allowance: Allowance | None = None,
) -> NewKey:
    unknown = scopes - SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    key = PREFIX + secrets.token_urlsafe(32)
    key_id: int = await conn.fetchval(
        """INSERT INTO api_keys (user_id, key_hash, prefix, scopes, expires_at,
                                 rate_capacity, rate_refill)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        user_id,
        hash_key(key),
        key[: len(PREFIX) + 6],
        sorted(scopes),
        expires_at,
        None if allowance is None else int(allowance.capacity),
        None if allowance is None else int(allowance.refill),
    )
    return NewKey(key_id, key)


async def revoke_key(conn: asyncpg.Connection, key_id: int) -> bool:
    """True when a live key was revoked; False when there is no such key or it already was."""
    status = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return status == "UPDATE 1"


@dataclass(frozen=True, slots=True)
class Tokens:
    """How bearer JWTs are checked: HS256 with a shared secret or RS256 with a public key."""

    algorithm: str
    key: str
    audience: str | None = None

    def claims(
        self, token: str, expired: str = "this token has expired", invalid: str | None = None
    ) -> dict[str, Any]:
        """The token's claims once its signature, expiry, subject and audience check out;
        Unauthenticated with `expired`, or `invalid` (default: what is wrong), otherwise."""
        try:
            found: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(expired) from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(invalid or f"invalid token: {exc}") from None
        return found

    def user(self, token: str) -> User:
        claims = self.claims(token)
        return User(id=str(claims["sub"]), scopes=scopes_of(claims, "read"))


def scopes_of(claims: dict[str, Any], default: str) -> frozenset[str]:
    """The known scopes a token's space-separated `scope` claim grants."""
    return frozenset(str(claims.get("scope", default)).split()) & SCOPES


async def authenticate(
    db: Database, authorization: str | None, tokens: Tokens | None = None
) -> User | None:
    """The user behind an Authorization header: an API key (`cgk_…`) or, when configured,
    a JWT; None for an anonymous request."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("use `Authorization: Bearer <api key or token>`")
    if tokens is not None and not token.startswith(PREFIX):
        return tokens.user(token)
    # The primary, not a replica: a revoked key must stop working at once, not after the lag.
    row = await db.fetchrow_primary(
        """SELECT id, user_id, scopes, revoked_at IS NOT NULL AS revoked,
                  coalesce(expires_at <= now(), false) AS expired, rate_capacity, rate_refill
             FROM api_keys WHERE key_hash = $1""",
        hash_key(token),
    )
    if row is None:
        raise Unauthenticated("unknown API key")
    if row["revoked"]:
        raise Unauthenticated("this API key was revoked")
    if row["expired"]:
        raise Unauthenticated("this API key has expired")
    allowance = (
        None
        if row["rate_capacity"] is None
        else Allowance(float(row["rate_capacity"]), float(row["rate_refill"]))
    )
    return User(
        id=row["user_id"], scopes=frozenset(row["scopes"]), key_id=row["id"], allowance=allowance
    )


async def fetch_api_keys(db: Database, user_id: str) -> list[Any]:
    return await db.fetch_primary(
        """SELECT id, prefix, scopes, created_at, expires_at, revoked_at
             FROM api_keys WHERE user_id = $1 ORDER BY id""",
        user_id,
    )
