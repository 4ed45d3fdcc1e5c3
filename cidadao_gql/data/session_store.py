"""The `sessions` table: browser sessions, each a row keyed by the SHA-256 of its random id.
The cookie, the limits and the CSRF rule are web/sessions.py's; this is only the SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from cidadao_gql.data.apikeys import User
from cidadao_gql.data.db import Database


@dataclass(frozen=True, slots=True)
class Session:
    """A session's row, as an instance holds it (times in seconds since the epoch)."""

    id_hash: bytes
    user: User
    expires_at: float
    last_seen: float
    key_live: bool  # no key behind it, or one neither revoked nor expired
    renew: bool = False  # this request recorded a use: send the cookie again


async def create(db: Database, id_hash: bytes, user: User, now: float, expires_at: float) -> None:
    await db.execute(
        """INSERT INTO sessions (id_hash, user_id, scopes, key_id, created_at, expires_at,
                                 last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $6, $5)""",
        id_hash, user.id, sorted(user.scopes), user.key_id, _at(now), _at(expires_at),
    )  # fmt: skip


async def fetch(db: Database, id_hash: bytes) -> Session | None:
    # The primary, not a replica: a sign-out must take effect at once, not after the lag.
    row = await db.primary.fetchrow(
        """SELECT s.user_id, s.scopes, s.key_id, s.expires_at, s.last_seen_at,
                  s.key_id IS NULL
                  OR (k.revoked_at IS NULL AND coalesce(k.expires_at > now(), true)) AS key_live
             FROM sessions s LEFT JOIN api_keys k ON k.id = s.key_id
            WHERE s.id_hash = $1""",
        id_hash,
    )
    if row is None:
        return None
    user = User(id=row["user_id"], scopes=frozenset(row["scopes"]), key_id=row["key_id"])
    return Session(
        id_hash, user, row["expires_at"].timestamp(), row["last_seen_at"].timestamp(),
        row["key_live"],
    )  # fmt: skip


async def touch(db: Database, id_hash: bytes, now: float) -> bool:
    """Record a use; False when the row is gone (signed out meanwhile)."""
    status = await db.execute(
        "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE id_hash = $1",
        id_hash, _at(now),
    )  # fmt: skip
    return status != "UPDATE 0"


async def delete(db: Database, id_hash: bytes) -> int:
    status = await db.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)
    return int(status.split()[-1])


async def end_sessions(conn: asyncpg.Connection | Database, user_id: str) -> int:
    """Delete every session of a user; how many. The caller announces it (web.sessions.VERSION)."""
    status = await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    return int(status.split()[-1])


async def sweep(db: Database, expired_at: float, idle_since: float) -> int:
    """Delete the sessions that end by `expired_at` or were last used by `idle_since`; how many."""
    status = await db.execute(
        "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
        _at(expired_at), _at(idle_since),
    )  # fmt: skip
    return int(status.split()[-1])


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
