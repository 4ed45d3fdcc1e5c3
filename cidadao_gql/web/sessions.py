"""Browser sessions: an optional cookie for the web frontend, ended on the server when the
user signs out, and the CSRF rule that comes with it.

`POST /session` with `Authorization: Bearer <key or token>` starts a session: a row in
`sessions` keyed by the SHA-256 of a random 256-bit id, and `cgql_session`, an HttpOnly,
SameSite=Lax cookie holding that id in a token signed with `SESSION_SECRET` (HS256).
Every request that authenticates by the cookie looks the row up, so a session ends on the
server, not only in the browser:

- `DELETE /session` deletes its row (with `?all=true`, every row of its user; `cidadao-gql
  session revoke --user U` does the same from the command line), then bumps the
  `apikeys` version, which every instance hears at once (cache/versions.py) and which
  drops the rows it keeps in L1 for a few seconds;
- a session lasts at most `SESSION_TTL` after sign-in, and ends when unused for
  `SESSION_IDLE_TTL`; each use renews the cookie within those limits;
- revoking or expiring the API key behind a session ends it too;
- each sign-in deletes the rows that have expired.

A cookie is sent by the browser on any request to us, a cross-site one included, so a
request that authenticates by cookie must be one a browser would have preflighted (Apollo
Server's rule): a POST (whose body must be application/json, which browsers preflight) or a
request carrying a non-empty `X-Apollo-Operation-Name` or `Apollo-Require-Preflight` header.
Anything else is refused with 400 CSRF_PREVENTED before it runs. Requests authenticated by
header, and anonymous ones, are not affected: no browser attaches those on its own.
WebSockets never read the cookie (browsers send cookies on cross-site WebSocket handshakes
without any preflight); they authenticate on `connection_init`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import jwt
from starlette.requests import Request
from starlette.responses import Response

from cidadao_gql.data import session_store as store
from cidadao_gql.data.apikeys import Tokens, User, authenticate
from cidadao_gql.data.cache import L1, Policy, TieredCache
from cidadao_gql.data.db import Database
from cidadao_gql.data.session_store import Session
from cidadao_gql.errors import (
    BadUserInput,
    CsrfPrevented,
    Unauthenticated,
)
from cidadao_gql.web.media import JSON, essence

COOKIE = "cgql_session"
PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight")
_AUDIENCE = "cidadao-gql:session"
# Sessions share the API keys' version: anything that ends a credential (a key revoked, a
# session signed out) bumps it, and every instance then re-reads the sessions it holds.
VERSION = "apikeys"
# A row is kept in L1 this long at most, and dropped at once when the version moves; the
# TTL bounds how late a sign-out is honoured when the announcement is lost and the
# version poll (every 5 s) has not yet run.
SESSION_CACHE = Policy("session", ttl=5, tiers=frozenset({L1}), version=VERSION)
# last_seen_at is written at most once a minute per session, not on every request: a write
# per request would make every read a write on the primary, for a precision no idle timeout
# of minutes needs. So the recorded last use may be up to a minute early, and a session
# ends between SESSION_IDLE_TTL and SESSION_IDLE_TTL + TOUCH_EVERY after its last use:
# never sooner than promised.
TOUCH_EVERY = 60


@dataclass(frozen=True, slots=True)
class Sessions:
    secret: str
    ttl: int
    idle_ttl: int
    secure: bool
    clock: Callable[[], float] = time.time

    async def sign_in(self, db: Database, response: Response, user: User) -> None:
        """Start a session for `user` and set its cookie; sweep the expired ones."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        await store.create(db, _hash(sid), user, now, now + self.ttl)
        # Sweeping here keeps the table to the sessions started within SESSION_TTL (no
        # sign-ins, no new rows), with no timer on every instance; each sweep reads only that.
        await self.sweep(db)
        claims = {"sid": sid, "sub": user.id, "exp": int(now + self.ttl), "aud": _AUDIENCE}
        token = jwt.encode(claims, self.secret, algorithm="HS256")
        self._set_cookie(response, token, now, now + self.ttl)

    async def session(self, db: Database, cache: TieredCache, token: str) -> Session:
        """The live session behind a cookie, its last use recorded (at most once a minute);
        Unauthenticated when the cookie is bad or the session has ended."""
        id_hash = self._id_hash(token)
        key = id_hash.hex()
        found: Session | None = await cache.get(
            SESSION_CACHE, key, lambda: store.fetch(db, id_hash)
        )
        now = self.clock()
        if found is not None and self._idle(found, now):
            # What L1 holds may be seconds old; another instance may have seen it used since.
            found = await store.fetch(db, id_hash)
            await cache.put(SESSION_CACHE, key, found)
        if found is None:
            raise Unauthenticated("this session has ended; sign in again")
        if not found.key_live:
            raise Unauthenticated("the API key behind this session was revoked or expired")
        if now >= found.expires_at or self._idle(found, now):
            await store.delete(db, id_hash)
            await cache.put(SESSION_CACHE, key, None)
            raise Unauthenticated("this session has expired; sign in again")
        if now - found.last_seen < TOUCH_EVERY:
            return found
        if not await store.touch(db, id_hash, now):  # signed out since L1 read it
            await cache.put(SESSION_CACHE, key, None)
            raise Unauthenticated("this session has ended; sign in again")
        touched = replace(found, last_seen=now)
        await cache.put(SESSION_CACHE, key, touched)
        return replace(touched, renew=True)

    def renew(self, response: Response, token: str, session: Session) -> None:
        """Send the cookie again, so the browser keeps it as long as the server would: until
        the idle limit from now, never past the absolute one. Done when last use is
        recorded (see TOUCH_EVERY), which is when the server's idle limit moves."""
        if not session.renew:
            return
        self._set_cookie(response, token, session.last_seen, session.expires_at)
        # A Set-Cookie must never be stored by a shared cache and handed to someone else.
        cache_control = response.headers.get("cache-control", "")
        if "public" in cache_control:
            response.headers["cache-control"] = cache_control.replace("public", "private")

    async def sign_out(
        self, db: Database, cache: TieredCache, request: Request, tokens: Tokens | None
    ) -> int:
        """End the request's session or, with `?all=true`, every session of its user (who
        may also be named by the Authorization header); how many ended."""
        token = request.cookies.get(COOKIE)
        if _everywhere(request.query_params.get("all")):
            authorization = request.headers.get("authorization")
            user = (
                await authenticate(db, authorization, tokens)
                if authorization or token is None
                else (await self.session(db, cache, token)).user
            )
            if user is None:
                raise Unauthenticated("signing out everywhere needs the session cookie or a key")
            ended = await store.end_sessions(db, user.id)
        else:
            id_hash = self._id_hash_or_none(token)
            ended = 0 if id_hash is None else await store.delete(db, id_hash)
        if ended:
            await cache.versions.bump(VERSION)
        return ended

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", secure=self.secure, httponly=True,
                               samesite="lax")  # fmt: skip

    async def sweep(self, db: Database) -> int:
        """Delete the sessions past their absolute or idle limit; how many."""
        now = self.clock()
        return await store.sweep(db, now, now - self.idle_ttl - TOUCH_EVERY)

    def _idle(self, session: Session, now: float) -> bool:
        return now >= session.last_seen + self.idle_ttl + TOUCH_EVERY

    def _set_cookie(self, response: Response, token: str, now: float, expires_at: float) -> None:
        max_age = int(min(expires_at - now, self.idle_ttl + TOUCH_EVERY))
        response.set_cookie(COOKIE, token, max_age=max_age, path="/", secure=self.secure,
                            httponly=True, samesite="lax")  # fmt: skip

    def _id_hash(self, token: str) -> bytes:
        claims = Tokens("HS256", self.secret, _AUDIENCE).claims(
            token,
            expired="this session has expired; sign in again",
            invalid="this session is not valid; sign in again",
        )
        sid = claims.get("sid")
        if not isinstance(sid, str):  # a cookie from before sessions had ids
            raise Unauthenticated("this session is not valid; sign in again")
        return _hash(sid)

    def _id_hash_or_none(self, token: str | None) -> bytes | None:
        if token is None:
            return None
        try:
            return self._id_hash(token)
        except Unauthenticated:
            return None  # nothing we issued, or already over: nothing to end


def _everywhere(given: str | None) -> bool:
    if given is None or given.lower() in ("false", "0"):
        return False
    if given.lower() in ("true", "1"):
        return True
    raise BadUserInput("`all` is true or false", parameter="all")


def _hash(sid: str) -> bytes:
    # SHA-256, not a slow hash: the id is 256 random bits, there is nothing to guess.
    return hashlib.sha256(sid.encode()).digest()


def check_preflighted(request: Request) -> None:
    """Raise CsrfPrevented unless a browser would have preflighted this request."""
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and essence(content_type) == JSON:
        return  # a browser preflights a cross-site application/json POST, in any case
    if any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return
    raise CsrfPrevented(
        "a request authenticated by the session cookie must be preflighted: send it as a "
        "POST, or with an `Apollo-Require-Preflight: true` header",
        headers=list(PREFLIGHT_HEADERS),
    )
