"""Browser sessions: an optional cookie for the web frontend, and the CSRF rule that comes
with it.

`POST /session` with `Authorization: Bearer <key or token>` sets `cgql_session`, an
HttpOnly, SameSite=Lax cookie holding a signed token (HS256 with `SESSION_SECRET`) that names
the user, their scopes and the API key behind it; every request that authenticates by it
checks that the key is still live, so revoking the key ends its sessions. `DELETE
/session` clears it.

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

import time
from dataclasses import dataclass

import jwt
from starlette.requests import Request
from starlette.responses import Response

from cidadao_gql.apikeys import Tokens, User, key_is_live, scopes_of
from cidadao_gql.db import Database
from cidadao_gql.errors import CidadaoError, Unauthenticated

COOKIE = "cgql_session"
PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight")
_AUDIENCE = "cidadao-gql:session"


class CsrfPrevented(CidadaoError):
    code = "CSRF_PREVENTED"


class SessionsDisabled(CidadaoError):
    code = "SESSIONS_DISABLED"


@dataclass(frozen=True, slots=True)
class Sessions:
    secret: str
    ttl: int
    secure: bool

    def issue(self, user: User) -> str:
        claims = {
            "sub": user.id,
            "scope": " ".join(sorted(user.scopes)),
            "exp": int(time.time()) + self.ttl,
            "aud": _AUDIENCE,
        }
        if user.key_id is not None:
            claims["key"] = user.key_id
        return jwt.encode(claims, self.secret, algorithm="HS256")

    async def user(self, db: Database, token: str) -> User:
        claims = Tokens("HS256", self.secret, _AUDIENCE).claims(
            token,
            expired="this session has expired; sign in again",
            invalid="this session is not valid; sign in again",
        )
        key_id = claims.get("key")
        if key_id is not None and not await key_is_live(db, int(key_id)):
            raise Unauthenticated("the API key behind this session was revoked or expired")
        return User(id=str(claims["sub"]), scopes=scopes_of(claims, ""), key_id=key_id)

    def sign_in(self, response: Response, user: User) -> None:
        response.set_cookie(COOKIE, self.issue(user), max_age=self.ttl, path="/",
                            secure=self.secure, httponly=True, samesite="lax")  # fmt: skip

    def sign_out(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", secure=self.secure, httponly=True,
                               samesite="lax")  # fmt: skip


def check_preflighted(request: Request) -> None:
    """Raise CsrfPrevented unless a browser would have preflighted this request."""
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/json"):
        return  # a browser preflights a cross-site application/json POST
    if any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return
    raise CsrfPrevented(
        "a request authenticated by the session cookie must be preflighted: send it as a "
        "POST, or with an `Apollo-Require-Preflight: true` header",
        headers=list(PREFLIGHT_HEADERS),
    )
