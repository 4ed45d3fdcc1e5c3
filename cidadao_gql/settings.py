"""Settings: one frozen value, read from the environment once at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cidadao_gql.errors import ConfigError

T = TypeVar("T")

CACHE_STRATEGIES = ("multi_tier", "memory", "redis", "none")
JSON_ENCODERS = ("orjson", "json")


@dataclass(frozen=True, slots=True)
class PoolSize:
    minimum: int
    maximum: int


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    database_replica_url: str | None = None
    redis_url: str | None = None
    queue_redis_url: str | None = None  # the job queue's Redis; REDIS_URL's when unset
    db_pool_size: PoolSize = PoolSize(2, 10)
    db_statement_cache_size: int = 512
    json_encoder: str = "orjson"
    batch_size: int = 100
    max_query_depth: int = 10
    max_query_cost: int = 1000
    max_aliases: int = 30
    max_fields: int = 2000
    max_tokens: int = 2000
    max_batch_tokens: int = 10_000  # a batch's documents together
    max_document_bytes: int = 32_768  # one document's text (a batch's: four times it)
    query_timeout_ms: int = 10_000
    db_statement_timeout_ms: int = 5_000
    rate_limit_capacity: int = 3000
    rate_limit_restore_rate: int = 100
    cache_strategy: str = "multi_tier"
    cache_l1_entries: int = 1000
    cache_l1_ttl: int = 300
    cache_l2_entries: int = 10_000
    response_cache_ttl: int = 60
    edge_max_age: int = 60  # s-maxage: how long shared caches (the edge) keep a public answer
    edge_stale_while_revalidate: int = 30
    edge_purge_urls: tuple[str, ...] = ()  # Varnish instances told to drop tagged answers
    edge_purge_token: str | None = None  # sent with every purge; the VCL refuses others
    agent_pool_size: PoolSize = PoolSize(2, 10)
    investigation_claim_after: int = 30
    llm_api_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    run_investigations: bool = True
    compression_level: int = 3  # Brotli quality; benchmarks/compression.py shows why
    max_body_bytes: int = 1_048_576
    body_timeout_s: int = 10  # a request's body all received within it, or 408
    persisted_queries_only: bool = False
    introspection: bool = True
    jwt_algorithm: str | None = None
    jwt_key: str | None = None
    jwt_audience: str | None = None
    cors_origins: tuple[str, ...] = ()
    ws_init_timeout_s: int = 10
    ws_max_subscriptions: int = 20
    session_secret: str | None = None
    session_ttl_s: int = 8 * 3600
    session_idle_ttl_s: int = 30 * 60
    session_cookie_secure: bool = True
    graphiql_assets_dir: Path | None = None  # GraphiQL served from here instead of unpkg
    http2_enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path(".data")
    pncp_sample_dir: Path = Path("../shared/data/pncp")
    seed_contracts: int = 20_000
    log_level: str = "INFO"
    log_format: str = "json"
    otel_endpoint: str | None = None
    max_concurrent_requests: int = 100
    executor: str = "compiled"
    worker_metrics_port: int = 0

    @property
    def jobs_url(self) -> str | None:
        """Where investigation jobs wait: QUEUE_REDIS_URL, else REDIS_URL, else nowhere (an
        in-process queue)."""
        return self.queue_redis_url or self.redis_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default `os.environ`); a bad value raises ConfigError."""
        settings = cls._read_env(os.environ if environ is None else environ)
        if settings.jwt_algorithm and not settings.jwt_key:
            raise ConfigError(
                "JWT_KEY: needed when JWT_ALGORITHM is set (a secret, or a PEM public key)"
            )
        return settings

    @classmethod
    def _read_env(cls, env: Mapping[str, str]) -> Settings:
        defaults = cls()
        return cls(
            **{
                field: _read(env, name, parse, getattr(defaults, field))
                for field, name, parse in _ENVIRONMENT
            }
        )


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc} (got {raw!r})") from None


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters (use `openssl rand -hex 32`)")
    return raw


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return raw

    return parse


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        scheme, sep, _ = raw.partition("://")
        if not sep or scheme not in schemes:
            raise ValueError(f"must be a URL with scheme {' or '.join(schemes)}")
        return raw

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins (`https://a.example,https://b.example`), or `*`."""
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
    return origins


def _urls(raw: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs: one per edge cache to purge."""
    return tuple(_HTTP(url.strip()) for url in raw.split(",") if url.strip())


def _token(raw: str) -> str:
    """A secret the VCL compares as it is: long, and of characters that need no quoting."""
    if not re.fullmatch(r"[A-Za-z0-9._~+/=-]{32,256}", raw):
        raise ValueError("must be 32 to 256 of A-Za-z0-9._~+/=- (use `openssl rand -hex 32`)")
    return raw


def _pool_size(raw: str) -> PoolSize:
    """`N` (maximum N, minimum min(2, N)) or `MIN:MAX`."""
    low, sep, high = raw.partition(":")
    maximum = int(high if sep else low)
    minimum = int(low) if sep else min(2, maximum)
    if not 0 <= minimum <= maximum or maximum < 1:
        raise ValueError("must be N or MIN:MAX with 0 <= MIN <= MAX and MAX >= 1")
    return PoolSize(minimum, maximum)


_POSTGRES = _url(("postgres", "postgresql"))
_REDIS = _url(("redis", "rediss", "unix"))
_HTTP = _url(("http", "https"))

# Every setting read from the environment: its field, its variable, and how the text is
# read and checked (a bad value is a ConfigError naming the variable); unset or blank, the
# field keeps its default. One row a setting, all in one place, as DESIGN asks.
_ENVIRONMENT: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("database_url", "DATABASE_URL", _POSTGRES),
    ("database_replica_url", "DATABASE_REPLICA_URL", _POSTGRES),
    ("redis_url", "REDIS_URL", _REDIS),
    ("queue_redis_url", "QUEUE_REDIS_URL", _REDIS),
    ("db_pool_size", "DB_POOL_SIZE", _pool_size),
    ("db_statement_cache_size", "DB_STATEMENT_CACHE_SIZE", _int(0, 100_000)),
    ("json_encoder", "JSON_ENCODER", _choice(JSON_ENCODERS)),
    ("batch_size", "BATCH_SIZE", _int(1, 1000)),
    ("max_query_depth", "MAX_QUERY_DEPTH", _int(1, 100)),
    ("max_query_cost", "MAX_QUERY_COST", _int(1, 10_000_000)),
    ("max_aliases", "MAX_ALIASES", _int(0, 10_000)),
    ("max_fields", "MAX_FIELDS", _int(1, 1_000_000)),
    ("max_tokens", "MAX_TOKENS", _int(10, 1_000_000)),
    ("max_batch_tokens", "MAX_BATCH_TOKENS", _int(10, 100_000_000)),
    ("max_document_bytes", "MAX_DOCUMENT_BYTES", _int(256, 100_000_000)),
    ("query_timeout_ms", "QUERY_TIMEOUT_MS", _int(1, 3_600_000)),
    ("db_statement_timeout_ms", "DB_STATEMENT_TIMEOUT_MS", _int(0, 3_600_000)),
    ("rate_limit_capacity", "RATE_LIMIT_CAPACITY", _int(0, 100_000_000)),
    ("rate_limit_restore_rate", "RATE_LIMIT_RESTORE_RATE", _int(1, 100_000_000)),
    ("cache_strategy", "CACHE_STRATEGY", _choice(CACHE_STRATEGIES)),
    ("cache_l1_entries", "CACHE_L1_ENTRIES", _int(0, 10_000_000)),
    ("cache_l1_ttl", "CACHE_L1_TTL", _int(1, 86_400)),
    ("cache_l2_entries", "CACHE_L2_ENTRIES", _int(1, 100_000_000)),
    ("response_cache_ttl", "RESPONSE_CACHE_TTL", _int(0, 86_400)),
    ("edge_max_age", "EDGE_MAX_AGE", _int(0, 31_536_000)),
    ("edge_stale_while_revalidate", "EDGE_STALE_WHILE_REVALIDATE", _int(0, 86_400)),
    ("edge_purge_urls", "EDGE_PURGE_URL", _urls),
    ("edge_purge_token", "EDGE_PURGE_TOKEN", _token),
    ("agent_pool_size", "AGENT_POOL_SIZE", _pool_size),
    ("investigation_claim_after", "INVESTIGATION_CLAIM_AFTER", _int(1, 86_400)),
    ("llm_api_url", "LLM_API_URL", _HTTP),
    ("llm_api_key", "LLM_API_KEY", str),
    ("llm_model", "LLM_MODEL", str),
    ("run_investigations", "RUN_INVESTIGATIONS", _bool),
    ("compression_level", "COMPRESSION_LEVEL", _int(0, 11)),
    ("max_body_bytes", "MAX_BODY_BYTES", _int(1024, 1_073_741_824)),
    ("body_timeout_s", "BODY_TIMEOUT", _int(1, 600)),
    ("persisted_queries_only", "PERSISTED_QUERIES_ONLY", _bool),
    ("jwt_algorithm", "JWT_ALGORITHM", _choice(("HS256", "RS256"))),
    ("jwt_key", "JWT_KEY", str),
    ("jwt_audience", "JWT_AUDIENCE", str),
    ("introspection", "INTROSPECTION_ENABLED", _bool),
    ("cors_origins", "CORS_ORIGINS", _origins),
    ("ws_init_timeout_s", "WS_INIT_TIMEOUT", _int(1, 600)),
    ("ws_max_subscriptions", "WS_MAX_SUBSCRIPTIONS", _int(1, 1000)),
    ("session_secret", "SESSION_SECRET", _secret),
    ("session_ttl_s", "SESSION_TTL", _int(60, 30 * 86_400)),
    ("session_idle_ttl_s", "SESSION_IDLE_TTL", _int(60, 30 * 86_400)),
    ("session_cookie_secure", "SESSION_COOKIE_SECURE", _bool),
    ("graphiql_assets_dir", "GRAPHIQL_ASSETS_DIR", Path),
    ("http2_enabled", "HTTP2_ENABLED", _bool),
    ("host", "HOST", str),
    ("port", "PORT", _int(1, 65535)),
    ("workers", "WORKERS", _int(1, 64)),
    ("data_dir", "CIDADAO_DATA_DIR", Path),
    ("pncp_sample_dir", "PNCP_SAMPLE_DIR", Path),
    ("seed_contracts", "SEED_CONTRACTS", _int(0, 50_000_000)),
    ("log_level", "LOG_LEVEL", _choice(("DEBUG", "INFO", "WARNING", "ERROR"))),
    ("log_format", "LOG_FORMAT", _choice(("json", "text"))),
    ("otel_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", _HTTP),
    ("worker_metrics_port", "WORKER_METRICS_PORT", _int(0, 65535)),
    ("executor", "EXECUTOR", _choice(("compiled", "ordinary"))),
    ("max_concurrent_requests", "MAX_CONCURRENT_REQUESTS", _int(0, 100_000)),
)
