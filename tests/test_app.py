"""The app over real HTTP: GraphQL by POST and GET, GraphiQL, health and API keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cidadao_gql.data import apikeys
from cidadao_gql.errors import ConfigError
from cidadao_gql.runtime.resources import open_resources
from cidadao_gql.settings import Settings
from cidadao_gql.web.app import create_app
from tests.conftest import DatabaseFactory, connect, live_server

QUERY = "{ contracts(first: 2) { totalCount nodes { id } } viewer { id scopes } }"


async def test_post_and_get_answer_the_same(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        posted = await client.post("/graphql", json={"query": QUERY})
        got = await client.get("/graphql", params={"query": QUERY})
    assert posted.status_code == got.status_code == 200
    assert posted.json()["data"] == got.json()["data"]
    assert posted.json()["data"]["contracts"]["totalCount"] > 0
    assert posted.json()["data"]["viewer"] is None
    assert len(posted.headers["x-request-id"]) == 32


async def test_browser_gets_graphiql(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_health_checks_database_and_redis(settings: Settings, redis_url: str) -> None:
    async with live_server(create_app(replace(settings, redis_url=redis_url))) as client:
        health = await client.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "checks": {"database": True, "migrations": True, "redis": True},
    }


async def test_request_id_is_echoed(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.post(
            "/graphql", json={"query": "{ viewer { id } }"}, headers={"x-request-id": "abc-123"}
        )
    assert answer.headers["x-request-id"] == "abc-123"


async def test_api_key_identifies_the_user(settings: Settings) -> None:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        key = await apikeys.create_key(conn, "maria", frozenset({"read", "investigate"}))
    async with live_server(create_app(settings)) as client:
        answer = await client.post(
            "/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {key.key}"}
        )
    assert answer.status_code == 200
    assert answer.json()["data"]["viewer"] == {"id": "maria", "scopes": ["investigate", "read"]}


@pytest.mark.parametrize("case", ["unknown", "revoked", "expired", "malformed"])
async def test_bad_keys_are_refused(settings: Settings, case: str) -> None:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        expires = datetime.now(UTC) - timedelta(seconds=1) if case == "expired" else None
        key = await apikeys.create_key(conn, "joao", expires_at=expires)
        if case == "revoked":
            assert await apikeys.revoke_key(conn, key.id)
            assert not await apikeys.revoke_key(conn, key.id)
    header = {
        "unknown": "Bearer cgk_nobody",
        "revoked": f"Bearer {key.key}",
        "expired": f"Bearer {key.key}",
        "malformed": f"Token {key.key}",
    }[case]
    async with live_server(create_app(settings)) as client:
        answer = await client.post(
            "/graphql", json={"query": QUERY}, headers={"authorization": header}
        )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in answer.json()


async def test_metrics_are_exposed(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        await client.post(
            "/graphql",
            json={
                "query": "{ agencies(first: 100) { nodes { contracts(first: 100) { nodes { id } } } } }"
            },
        )  # 2,121 points
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert "cidadao_ai_rate_limiter_failures_total" in answer.text
    assert 'cidadao_ai_query_rejections_total{code="QUERY_TOO_COMPLEX"}' in answer.text


async def test_an_unmigrated_database_stops_start_up_with_a_clear_message(
    settings: Settings, make_database: DatabaseFactory
) -> None:
    url = await make_database()
    async with connect(url) as conn:
        await conn.execute("DELETE FROM schema_migrations WHERE version = 2")
    with pytest.raises(ConfigError, match=r"pending: 0002_cache.*cidadao-gql db migrate"):
        async with open_resources(replace(settings, database_url=url)):
            pass


def _rsa_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return pem, public


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
async def test_bearer_jwts_identify_users_with_their_scopes(
    settings: Settings, algorithm: str
) -> None:
    import jwt

    signing, verifying = ("s3cr3t-" * 6, "s3cr3t-" * 6) if algorithm == "HS256" else _rsa_pair()
    configured = replace(settings, jwt_algorithm=algorithm, jwt_key=verifying)
    now = datetime.now(UTC)

    def token(**claims: object) -> str:
        body = {
            "sub": "carla",
            "scope": "read investigate",
            "exp": now + timedelta(minutes=5),
            **claims,
        }
        return jwt.encode(body, signing, algorithm=algorithm)

    async with live_server(create_app(configured)) as client:

        async def ask(value: str) -> httpx.Response:
            return await client.post(
                "/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {value}"}
            )

        good = await ask(token())
        expired = await ask(token(exp=now - timedelta(seconds=5)))
        forged = await ask(
            jwt.encode(
                {"sub": "carla", "exp": now + timedelta(minutes=5)},
                "other-key" * 5,
                algorithm="HS256",
            )
        )
        no_subject = await ask(
            jwt.encode({"exp": now + timedelta(minutes=5)}, signing, algorithm=algorithm)
        )
    assert good.json()["data"]["viewer"] == {"id": "carla", "scopes": ["investigate", "read"]}
    for refused, reason in (
        (expired, "expired"),
        (forged, "invalid token"),
        (no_subject, "invalid token"),
    ):
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert reason in refused.json()["errors"][0]["message"]


def test_a_jwt_algorithm_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="JWT_KEY"):
        Settings.from_env({"JWT_ALGORITHM": "HS256"})


async def test_investigations_over_http_need_a_key_the_scope_and_the_owner(
    settings: Settings,
) -> None:
    assert settings.database_url
    async with connect(settings.database_url) as conn:
        owner = await apikeys.create_key(conn, "owner", frozenset({"read", "investigate"}))
        reader = await apikeys.create_key(conn, "reader", frozenset({"read"}))
    start = 'mutation { startInvestigation(target: {signedFrom: "2020-01-01"}) { id } }'
    read = "query($id: ID!) { investigation(id: $id) { status } }"

    async def code(client: httpx.AsyncClient, query: str, key: str | None, **variables: str) -> str:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        answer = await client.post("/graphql", json={"query": query, "variables": variables},
                                   headers=headers)  # fmt: skip
        errors = answer.json().get("errors") or [{"extensions": {"code": "OK"}}]
        return str(errors[0]["extensions"]["code"])

    async with live_server(create_app(settings)) as client:
        started = await client.post("/graphql", json={"query": start},
                                    headers={"authorization": f"Bearer {owner.key}"})  # fmt: skip
        investigation = started.json()["data"]["startInvestigation"]["id"]
        assert await code(client, start, None) == "UNAUTHENTICATED"
        assert await code(client, start, reader.key) == "FORBIDDEN"
        assert await code(client, read, reader.key, id=investigation) == "NOT_FOUND"
        assert await code(client, read, owner.key, id=investigation) == "OK"


async def test_the_root_leads_to_graphiql(settings: Settings) -> None:
    async with live_server(create_app(settings)) as client:
        answer = await client.get("/")
        page = await client.get("/", headers={"accept": "text/html"}, follow_redirects=True)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/graphql"
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
