"""Browser sessions over real HTTP: sign in for a cookie, the CSRF rule for requests that
use it, header-authenticated and anonymous requests left as they were, and sessions that
end on the server: signed out (here, everywhere, by the admin), idle, or too old."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import replace

import httpx
import pytest
import redis.asyncio as aioredis

from cidadao_gql.data import apikeys
from cidadao_gql.data.cache import announce, bump_version
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from cidadao_gql.web.sessions import COOKIE, TOUCH_EVERY
from tests.conftest import ROOT, FakeClock, connect, live_server

VIEWER = "{ viewer { id } }"
SECRET = "s" * 40


@pytest.fixture
def with_sessions(settings: Settings, redis_url: str) -> Settings:
    """Sessions on, with Redis: what instances hear sign-outs through."""
    return replace(
        settings, session_secret=SECRET, session_cookie_secure=False, redis_url=redis_url
    )


async def new_key(settings: Settings, user: str) -> apikeys.NewKey:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        return await apikeys.create_key(conn, user, frozenset({"read"}))


async def sign_in(client: httpx.AsyncClient, key: apikeys.NewKey) -> str:
    """A new session's cookie value; the client's jar is left empty, so each request
    below says which cookie it sends (a browser that kept it, or one that copied it)."""
    answer = await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
    assert answer.status_code == 204
    cookie = answer.cookies[COOKIE]
    client.cookies.clear()
    return cookie


def riding(cookie: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={cookie}"}


async def viewer(client: httpx.AsyncClient, cookie: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": VIEWER}, headers=riding(cookie))


async def refused_soon(client: httpx.AsyncClient, cookie: str) -> httpx.Response:
    """The answer once the instance has heard of an ended session: pub/sub delivery takes
    milliseconds, far below the few seconds the instance keeps a session in L1."""
    for _ in range(100):
        answer = await viewer(client, cookie)
        if answer.status_code == 401:
            break
        await asyncio.sleep(0.02)
    return answer


def assert_unauthenticated(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def session_rows(settings: Settings, *users: str) -> dict[str, int]:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        rows = await conn.fetch(
            "SELECT user_id, count(*) AS n FROM sessions WHERE user_id = any($1) GROUP BY 1",
            list(users),
        )
    return {user: 0 for user in users} | {r["user_id"]: r["n"] for r in rows}


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


async def test_a_signed_out_cookie_is_refused_on_every_instance(with_sessions: Settings) -> None:
    """A copy of the cookie (a proxy log, a shared computer) dies with the sign-out, on the
    instance that signed out and on one that had the session in its L1 cache."""
    user = f"gil-{uuid.uuid4()}"
    key = await new_key(with_sessions, user)
    async with (
        live_server(create_app(with_sessions)) as a,
        live_server(create_app(with_sessions)) as b,
    ):
        cookie = await sign_in(a, key)
        for instance in (a, b):
            answer = await viewer(instance, cookie)
            assert answer.json()["data"]["viewer"] == {"id": user}
        signed_out = await a.delete("/session", headers=riding(cookie))
        assert signed_out.status_code == 204
        assert 'cgql_session=""' in signed_out.headers["set-cookie"]  # cleared in the browser
        on_a = await viewer(a, cookie)
        on_b = await refused_soon(b, cookie)
        again = await a.delete("/session", headers=riding(cookie))
    assert_unauthenticated(on_a)  # at once: the instance that signed out
    assert_unauthenticated(on_b)
    assert again.status_code == 204  # signing out twice is no error
    assert await session_rows(with_sessions, user) == {user: 0}


async def test_signing_out_everywhere_ends_all_of_one_users_sessions(
    with_sessions: Settings,
) -> None:
    hugo, iris = f"hugo-{uuid.uuid4()}", f"iris-{uuid.uuid4()}"
    hugo_key, iris_key = await new_key(with_sessions, hugo), await new_key(with_sessions, iris)
    async with (
        live_server(create_app(with_sessions)) as a,
        live_server(create_app(with_sessions)) as b,
    ):
        laptop, phone = await sign_in(a, hugo_key), await sign_in(b, hugo_key)
        other = await sign_in(a, iris_key)
        for instance, cookie in ((a, laptop), (b, phone), (b, other)):
            assert (await viewer(instance, cookie)).status_code == 200  # held in L1 now
        bad = await a.delete("/session", params={"all": "perhaps"}, headers=riding(laptop))
        everywhere = await a.delete("/session", params={"all": "true"}, headers=riding(laptop))
        assert everywhere.status_code == 204
        ended = [await refused_soon(b, phone), await viewer(a, laptop)]
        kept = await viewer(b, other)
        nobody = await a.delete("/session", params={"all": "true"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    for answer in ended:
        assert_unauthenticated(answer)
    assert kept.json()["data"]["viewer"] == {"id": iris}
    assert_unauthenticated(nobody)  # everywhere needs to know whose sessions
    assert await session_rows(with_sessions, hugo, iris) == {hugo: 0, iris: 1}


async def test_signing_out_everywhere_with_a_key(with_sessions: Settings) -> None:
    """A user who lost the browser signs its session out from elsewhere, with their key."""
    user = f"joana-{uuid.uuid4()}"
    key = await new_key(with_sessions, user)
    async with live_server(create_app(with_sessions)) as client:
        lost = await sign_in(client, key)
        assert (await viewer(client, lost)).status_code == 200
        everywhere = await client.delete(
            "/session", params={"all": "1"}, headers={"authorization": f"Bearer {key.key}"}
        )
        assert everywhere.status_code == 204
        assert_unauthenticated(await viewer(client, lost))


async def test_the_admin_command_signs_a_user_out_everywhere(with_sessions: Settings) -> None:
    kleber, lia = f"kleber-{uuid.uuid4()}", f"lia-{uuid.uuid4()}"
    kleber_key, lia_key = await new_key(with_sessions, kleber), await new_key(with_sessions, lia)
    assert with_sessions.database_url and with_sessions.redis_url
    env = {**os.environ, "DATABASE_URL": with_sessions.database_url,
           "REDIS_URL": with_sessions.redis_url}  # fmt: skip
    async with live_server(create_app(with_sessions)) as client:
        cookies = [await sign_in(client, kleber_key), await sign_in(client, kleber_key)]
        other = await sign_in(client, lia_key)
        for cookie in (*cookies, other):
            assert (await viewer(client, cookie)).status_code == 200
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cidadao_gql.cli", "session", "revoke", "--user", kleber,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(command.communicate(), timeout=60)
        ended = [await refused_soon(client, cookie) for cookie in cookies]
        kept = await viewer(client, other)
    assert command.returncode == 0
    assert out.decode().strip() == f"ended 2 session(s) of {kleber}"
    for answer in ended:
        assert_unauthenticated(answer)
    assert kept.json()["data"]["viewer"] == {"id": lia}


async def test_an_idle_session_expires_and_each_use_renews_it(with_sessions: Settings) -> None:
    idle = 600
    clock = FakeClock(round(time.time()))  # whole seconds: timestamptz keeps microseconds
    settings = replace(with_sessions, session_idle_ttl_s=idle)
    user = f"marta-{uuid.uuid4()}"
    key = await new_key(settings, user)
    started = clock.now
    async with live_server(create_app(settings, clock)) as client:
        signed_in = await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
        cookie = signed_in.cookies[COOKIE]
        client.cookies.clear()
        clock.now = started + TOUCH_EVERY - 1
        unrecorded = await viewer(client, cookie)  # used, but not yet worth a write
        clock.now = started + idle
        renewed = await viewer(client, cookie)  # idle for SESSION_IDLE_TTL: still on time
        clock.now = started + idle + idle + TOUCH_EVERY - 1
        last_call = await viewer(client, cookie)
        clock.now += idle + TOUCH_EVERY
        expired = await viewer(client, cookie)
    limit = idle + TOUCH_EVERY  # the browser keeps it exactly as long as the server would
    assert f"Max-Age={limit}" in signed_in.headers["set-cookie"]
    assert unrecorded.json()["data"]["viewer"] == {"id": user}
    assert "set-cookie" not in unrecorded.headers
    for answer in (renewed, last_call):
        assert answer.json()["data"]["viewer"] == {"id": user}
        assert f"Max-Age={limit}" in answer.headers["set-cookie"]
        assert "HttpOnly" in answer.headers["set-cookie"]
    assert_unauthenticated(expired)
    assert "expired" in expired.json()["errors"][0]["message"]
    assert await session_rows(settings, user) == {user: 0}  # deleted when found expired


async def test_a_session_ends_at_its_absolute_limit_however_much_it_is_used(
    with_sessions: Settings,
) -> None:
    clock = FakeClock(round(time.time()))  # whole seconds: timestamptz keeps microseconds
    settings = replace(with_sessions, session_ttl_s=300, session_idle_ttl_s=120)
    key = await new_key(settings, f"nuno-{uuid.uuid4()}")
    started = clock.now
    async with live_server(create_app(settings, clock)) as client:
        cookie = await sign_in(client, key)
        ages = []
        for elapsed in (100, 200, 299):
            clock.now = started + elapsed
            answer = await viewer(client, cookie)
            assert answer.status_code == 200
            ages.append(answer.headers["set-cookie"].split("Max-Age=")[1].split(";")[0])
        clock.now = started + 300
        over = await viewer(client, cookie)
    assert ages == ["180", "100", "1"]  # the idle limit, until the absolute one is nearer
    assert_unauthenticated(over)


async def test_a_renewed_cookie_is_never_left_to_shared_caches(with_sessions: Settings) -> None:
    """A public answer over GET may be kept by a CDN; one that renews a cookie must not be,
    or the CDN would hand the cookie to everyone after. Neither is one to a request that
    rode on the session's cookie: it carried credentials (issue 20)."""
    clock = FakeClock(round(time.time()))
    key = await new_key(with_sessions, f"rita-{uuid.uuid4()}")
    public = {"query": "{ agencies(first: 1) { totalCount } }"}
    async with live_server(create_app(with_sessions, clock)) as client:
        cookie = await sign_in(client, key)
        preflighted = riding(cookie) | {"apollo-require-preflight": "true"}
        plain = await client.get("/graphql", params=public, headers=preflighted)
        clock.now += TOUCH_EVERY
        renewing = await client.get("/graphql", params=public, headers=preflighted)
    assert "set-cookie" not in plain.headers
    assert plain.headers["cache-control"] == "private, no-store"
    assert "surrogate-key" not in plain.headers
    assert COOKIE in renewing.headers["set-cookie"]
    assert renewing.headers["cache-control"].startswith("private")


async def test_expired_and_signed_out_sessions_are_deleted(with_sessions: Settings) -> None:
    clock = FakeClock(round(time.time()))  # whole seconds: timestamptz keeps microseconds
    settings = replace(with_sessions, session_ttl_s=3600, session_idle_ttl_s=600)
    users = [f"olga-{uuid.uuid4()}", f"paulo-{uuid.uuid4()}", f"quim-{uuid.uuid4()}"]
    olga, paulo, quim = [await new_key(settings, user) for user in users]
    async with live_server(create_app(settings, clock)) as client:
        left = await sign_in(client, olga)
        await sign_in(client, paulo)  # never used again
        assert await session_rows(settings, *users) == dict(zip(users, (1, 1, 0), strict=True))
        await client.delete("/session", headers=riding(left))
        assert (await session_rows(settings, *users))[users[0]] == 0  # at sign-out
        clock.now += 600 + TOUCH_EVERY
        await sign_in(client, quim)  # each sign-in sweeps
    assert await session_rows(settings, *users) == dict(zip(users, (0, 0, 1), strict=True))


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


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/json ; x"]
)
async def test_a_json_post_is_preflighted_in_any_case(
    with_sessions: Settings, content_type: str
) -> None:
    """Media types are case-insensitive (RFC 9110 §8.3.1), for a browser deciding to
    preflight as for us: a JSON POST in any spelling rides the cookie."""
    user = f"rui-{uuid.uuid4()}"
    key = await new_key(with_sessions, user)
    async with live_server(create_app(with_sessions)) as client:
        await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
        answer = await client.post(
            "/graphql", content=f'{{"query": "{VIEWER}"}}', headers={"content-type": content_type}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["viewer"] == {"id": user}


async def test_a_signed_in_browser_opens_graphiql(with_sessions: Settings) -> None:
    """The page holds no one's data, so the CSRF rule does not apply to it: a browser with
    the cookie gets GraphiQL, while a query sent the same way is still refused."""
    key = await new_key(with_sessions, f"ivo-{uuid.uuid4()}")
    async with live_server(create_app(with_sessions)) as client:
        await client.post("/session", headers={"authorization": f"Bearer {key.key}"})
        page = await client.get("/graphql", headers={"accept": "text/html"})
        query = await client.get(
            "/graphql", params={"query": VIEWER}, headers={"accept": "text/html"}
        )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert query.status_code == 400
    assert query.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"


@pytest.mark.parametrize("header", ["x-apollo-operation-name", "apollo-require-preflight"])
async def test_a_non_empty_preflight_header_lets_the_cookie_through(
    with_sessions: Settings, header: str
) -> None:
    """A custom header forces a browser's preflight, so a GET carrying one came from a page
    CORS allowed; an empty one proves nothing."""
    user = f"fabi-{uuid.uuid4()}"
    key = await new_key(with_sessions, user)
    async with live_server(create_app(with_sessions)) as client:
        cookie = await sign_in(client, key)
        named = await client.get(
            "/graphql", params={"query": VIEWER}, headers={header: "Viewer", **riding(cookie)}
        )
        empty = await client.get(
            "/graphql", params={"query": VIEWER}, headers={header: "", **riding(cookie)}
        )
    assert named.status_code == 200 and named.json()["data"]["viewer"] == {"id": user}
    assert empty.status_code == 400
    assert empty.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"


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
    assert with_sessions.database_url and with_sessions.redis_url
    async with live_server(create_app(with_sessions)) as client:
        cookie = await sign_in(client, key)
        assert (await viewer(client, cookie)).status_code == 200  # held in L1 now
        async with connect(with_sessions.database_url) as conn:  # as `apikey revoke` does
            await apikeys.revoke_key(conn, key.id)
            version = await bump_version(conn, "apikeys")
        redis = aioredis.Redis.from_url(with_sessions.redis_url)
        await announce(redis, "apikeys", version)
        await redis.aclose()
        revoked = await refused_soon(client, cookie)
        forged = await viewer(client, "eyJhbGciOiJIUzI1NiJ9.e30.forged")
    for answer in (revoked, forged):
        assert_unauthenticated(answer)
    assert "revoked" in revoked.json()["errors"][0]["message"]


async def test_sessions_are_off_without_a_secret(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.post("/session", headers={"authorization": "Bearer cgk_x"})
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["extensions"]["code"] == "SESSIONS_DISABLED"
