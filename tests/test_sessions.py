"""Browser sessions over real HTTP: sign in for a cookie, the CSRF rule for requests that
use it, and header-authenticated and anonymous requests left as they were."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from cidadao_gql import apikeys
from cidadao_gql.app import create_app
from cidadao_gql.settings import Settings
from tests.conftest import connect, live_server

VIEWER = "{ viewer { id } }"
SECRET = "s" * 40


@pytest.fixture
def with_sessions(settings: Settings) -> Settings:
    return replace(settings, session_secret=SECRET, session_cookie_secure=False)


async def new_key(settings: Settings, user: str) -> apikeys.NewKey:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        return await apikeys.create_key(conn, user, frozenset({"read"}))


async def test_a_session_cookie_identifies_the_user_on_preflighted_requests(
    with_sessions: Settings,
) -> None:
    user = f"carla-{uuid.uuid4()}"
    key = await new_key(with_sessions, user)
    async with live_server(create_app(with_sessions)) as client:
        signed_in = await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
        assert signed_in.status_code == 204
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "cgql_session=" in cookie
        posted = await client.post("/graphql", json={"query": VIEWER})  # the jar sends it
        assert posted.json()["data"]["viewer"] == {"id": user}
        preflighted = await client.get(
            "/graphql", params={"query": VIEWER}, headers={"apollo-require-preflight": "true"}
        )
        assert preflighted.json()["data"]["viewer"] == {"id": user}
        signed_out = await client.delete("/session")
        assert signed_out.status_code == 204
        anonymous = await client.post("/graphql", json={"query": VIEWER})
        assert anonymous.json()["data"]["viewer"] is None


@pytest.mark.parametrize(
    ("method", "content_type"),
    [("GET", None), ("POST", "text/plain"), ("POST", "application/x-www-form-urlencoded")],
)
async def test_a_cross_site_request_riding_the_cookie_is_refused(
    with_sessions: Settings, method: str, content_type: str | None
) -> None:
    """What a hostile page can make a browser send without a preflight: a GET (an <img>, a
    link) or a form/text POST. The cookie goes along; the request must not run as the user."""
    key = await new_key(with_sessions, f"davi-{uuid.uuid4()}")
    async with live_server(create_app(with_sessions)) as client:
        await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
        if method == "GET":
            answer = await client.get("/graphql", params={"query": VIEWER})
        else:
            answer = await client.post(
                "/graphql", content=f'{{"query": "{VIEWER}"}}',
                headers={"content-type": content_type or ""},
            )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"


async def test_header_and_anonymous_requests_need_no_preflight(with_sessions: Settings) -> None:
    user = f"eva-{uuid.uuid4()}"
    key = await new_key(with_sessions, user)
    async with live_server(create_app(with_sessions)) as client:
        by_header = await client.get(
            "/graphql", params={"query": VIEWER}, headers={"authorization": f"Bearer {key.key}"}
        )
        anonymous = await client.get(
            "/graphql", params={"query": "{ agencies(first: 1) { totalCount } }"}
        )
    assert by_header.json()["data"]["viewer"] == {"id": user}
    assert anonymous.status_code == 200 and anonymous.json()["data"]["agencies"]["totalCount"] > 0


async def test_revoking_the_key_ends_its_sessions_and_forged_cookies_fail(
    with_sessions: Settings,
) -> None:
    key = await new_key(with_sessions, f"fabio-{uuid.uuid4()}")
    assert with_sessions.database_url
    async with live_server(create_app(with_sessions)) as client:
        await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
        async with connect(with_sessions.database_url) as conn:
            await apikeys.revoke_key(conn, key.id)
        revoked = await client.post("/graphql", json={"query": VIEWER})
        client.cookies.set("cgql_session", "eyJhbGciOiJIUzI1NiJ9.e30.forged")
        forged = await client.post("/graphql", json={"query": VIEWER})
    for answer in (revoked, forged):
        assert answer.status_code == 401
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sessions_are_off_without_a_secret(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.post("/session", headers={"authorization": "Bearer cgk_x"})
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["extensions"]["code"] == "SESSIONS_DISABLED"
