"""Settings: defaults, parsing, and a wrong value named at start-up."""

from __future__ import annotations

import pytest

from cidadao_gql.errors import ConfigError
from cidadao_gql.settings import PoolSize, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.db_pool_size == PoolSize(2, 10)
    assert (settings.max_query_depth, settings.max_query_cost, settings.batch_size) == (
        10,
        1000,
        100,
    )
    assert settings.cache_strategy == "multi_tier"
    assert settings.json_encoder == "orjson"
    assert (settings.session_ttl_s, settings.session_idle_ttl_s) == (8 * 3600, 30 * 60)


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "REDIS_URL": "redis://localhost:6379/0",
            "DB_POOL_SIZE": "5:40",
            "AGENT_POOL_SIZE": "3",
            "HTTP2_ENABLED": "yes",
            "BATCH_SIZE": " 50 ",
            "SESSION_IDLE_TTL": "900",
        }
    )
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.db_pool_size == PoolSize(5, 40)
    assert settings.agent_pool_size == PoolSize(2, 3)
    assert settings.http2_enabled is True
    assert settings.batch_size == 50
    assert settings.session_idle_ttl_s == 900


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
        ("DB_POOL_SIZE", "ten"),
        ("DB_POOL_SIZE", "9:3"),
        ("BATCH_SIZE", "0"),
        ("MAX_QUERY_DEPTH", "-1"),
        ("CACHE_STRATEGY", "everything"),
        ("JSON_ENCODER", "ujson"),
        ("HTTP2_ENABLED", "perhaps"),
        ("PORT", "70000"),
        ("SESSION_IDLE_TTL", "30"),
    ],
)
def test_a_wrong_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value).startswith(f"{name}: ")
    assert repr(value) in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_every_setting_is_read_from_one_variable_of_its_own() -> None:
    """The table `from_env` reads: each field of Settings once, each variable once."""
    from dataclasses import fields

    from cidadao_gql.settings import _ENVIRONMENT

    names = [field for field, _, _ in _ENVIRONMENT]
    variables = [variable for _, variable, _ in _ENVIRONMENT]
    assert sorted(names) == sorted(f.name for f in fields(Settings))
    assert len(set(variables)) == len(variables)
