"""Settings: one frozen value, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

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
    agent_pool_size: PoolSize = PoolSize(2, 10)
    investigation_claim_after: int = 30
    llm_api_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    run_investigations: bool = True
    compression_level: int = 3  # Brotli quality; benchmarks/compression.py shows why
    max_body_bytes: int = 1_048_576
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

    # One call with one keyword a setting: no logic to split out, its length is the number
    # of settings (every field read, checked and defaulted in one place, as DESIGN asks).
    @classmethod
    def _read_env(cls, env: Mapping[str, str]) -> Settings:
        d = cls()
        return cls(
            database_url=_read(
                env, "DATABASE_URL", _url(("postgres", "postgresql")), d.database_url
            ),
            database_replica_url=_read(
                env, "DATABASE_REPLICA_URL", _url(("postgres", "postgresql")), None
            ),
            redis_url=_read(env, "REDIS_URL", _url(("redis", "rediss", "unix")), None),
            queue_redis_url=_read(env, "QUEUE_REDIS_URL", _url(("redis", "rediss", "unix")), None),
            db_pool_size=_read(env, "DB_POOL_SIZE", _pool_size, d.db_pool_size),
            db_statement_cache_size=_read(
                env, "DB_STATEMENT_CACHE_SIZE", _int(0, 100_000), d.db_statement_cache_size
            ),
            json_encoder=_read(env, "JSON_ENCODER", _choice(JSON_ENCODERS), d.json_encoder),
            batch_size=_read(env, "BATCH_SIZE", _int(1, 1000), d.batch_size),
            max_query_depth=_read(env, "MAX_QUERY_DEPTH", _int(1, 100), d.max_query_depth),
            max_query_cost=_read(env, "MAX_QUERY_COST", _int(1, 10_000_000), d.max_query_cost),
            max_aliases=_read(env, "MAX_ALIASES", _int(0, 10_000), d.max_aliases),
            max_fields=_read(env, "MAX_FIELDS", _int(1, 1_000_000), d.max_fields),
            max_tokens=_read(env, "MAX_TOKENS", _int(10, 1_000_000), d.max_tokens),
            max_batch_tokens=_read(
                env, "MAX_BATCH_TOKENS", _int(10, 100_000_000), d.max_batch_tokens
            ),
            max_document_bytes=_read(
                env, "MAX_DOCUMENT_BYTES", _int(256, 100_000_000), d.max_document_bytes
            ),
            query_timeout_ms=_read(env, "QUERY_TIMEOUT_MS", _int(1, 3_600_000), d.query_timeout_ms),
            db_statement_timeout_ms=_read(
                env, "DB_STATEMENT_TIMEOUT_MS", _int(0, 3_600_000), d.db_statement_timeout_ms
            ),
            rate_limit_capacity=_read(
                env, "RATE_LIMIT_CAPACITY", _int(0, 100_000_000), d.rate_limit_capacity
            ),
            rate_limit_restore_rate=_read(
                env, "RATE_LIMIT_RESTORE_RATE", _int(1, 100_000_000), d.rate_limit_restore_rate
            ),
            cache_strategy=_read(
                env, "CACHE_STRATEGY", _choice(CACHE_STRATEGIES), d.cache_strategy
            ),
            cache_l1_entries=_read(
                env, "CACHE_L1_ENTRIES", _int(0, 10_000_000), d.cache_l1_entries
            ),
            cache_l1_ttl=_read(env, "CACHE_L1_TTL", _int(1, 86_400), d.cache_l1_ttl),
            cache_l2_entries=_read(
                env, "CACHE_L2_ENTRIES", _int(1, 100_000_000), d.cache_l2_entries
            ),
            response_cache_ttl=_read(
                env, "RESPONSE_CACHE_TTL", _int(0, 86_400), d.response_cache_ttl
            ),
            agent_pool_size=_read(env, "AGENT_POOL_SIZE", _pool_size, d.agent_pool_size),
            investigation_claim_after=_read(
                env, "INVESTIGATION_CLAIM_AFTER", _int(1, 86_400), d.investigation_claim_after
            ),
            llm_api_url=_read(env, "LLM_API_URL", _url(("http", "https")), None),
            llm_api_key=_read(env, "LLM_API_KEY", str, None),
            llm_model=_read(env, "LLM_MODEL", str, d.llm_model),
            run_investigations=_read(env, "RUN_INVESTIGATIONS", _bool, d.run_investigations),
            compression_level=_read(env, "COMPRESSION_LEVEL", _int(0, 11), d.compression_level),
            max_body_bytes=_read(
                env, "MAX_BODY_BYTES", _int(1024, 1_073_741_824), d.max_body_bytes
            ),
            persisted_queries_only=_read(
                env, "PERSISTED_QUERIES_ONLY", _bool, d.persisted_queries_only
            ),
            jwt_algorithm=_read(env, "JWT_ALGORITHM", _choice(("HS256", "RS256")), None),
            jwt_key=_read(env, "JWT_KEY", str, None),
            jwt_audience=_read(env, "JWT_AUDIENCE", str, None),
            introspection=_read(env, "INTROSPECTION_ENABLED", _bool, d.introspection),
            cors_origins=_read(env, "CORS_ORIGINS", _origins, d.cors_origins),
            ws_init_timeout_s=_read(env, "WS_INIT_TIMEOUT", _int(1, 600), d.ws_init_timeout_s),
            ws_max_subscriptions=_read(
                env, "WS_MAX_SUBSCRIPTIONS", _int(1, 1000), d.ws_max_subscriptions
            ),
            session_secret=_read(env, "SESSION_SECRET", _secret, None),
            session_ttl_s=_read(env, "SESSION_TTL", _int(60, 30 * 86_400), d.session_ttl_s),
            session_idle_ttl_s=_read(
                env, "SESSION_IDLE_TTL", _int(60, 30 * 86_400), d.session_idle_ttl_s
            ),
            session_cookie_secure=_read(
                env, "SESSION_COOKIE_SECURE", _bool, d.session_cookie_secure
            ),
            graphiql_assets_dir=_read(env, "GRAPHIQL_ASSETS_DIR", Path, None),
            http2_enabled=_read(env, "HTTP2_ENABLED", _bool, d.http2_enabled),
            host=_read(env, "HOST", str, d.host),
            port=_read(env, "PORT", _int(1, 65535), d.port),
            workers=_read(env, "WORKERS", _int(1, 64), d.workers),
            data_dir=_read(env, "CIDADAO_DATA_DIR", Path, d.data_dir),
            pncp_sample_dir=_read(env, "PNCP_SAMPLE_DIR", Path, d.pncp_sample_dir),
            seed_contracts=_read(env, "SEED_CONTRACTS", _int(0, 50_000_000), d.seed_contracts),
            log_level=_read(
                env, "LOG_LEVEL", _choice(("DEBUG", "INFO", "WARNING", "ERROR")), d.log_level
            ),
            log_format=_read(env, "LOG_FORMAT", _choice(("json", "text")), d.log_format),
            otel_endpoint=_read(env, "OTEL_EXPORTER_OTLP_ENDPOINT", _url(("http", "https")), None),
            worker_metrics_port=_read(env, "WORKER_METRICS_PORT", _int(0, 65535), 0),
            executor=_read(env, "EXECUTOR", _choice(("compiled", "ordinary")), d.executor),
            max_concurrent_requests=_read(
                env, "MAX_CONCURRENT_REQUESTS", _int(0, 100_000), d.max_concurrent_requests
            ),
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


def _pool_size(raw: str) -> PoolSize:
    """`N` (maximum N, minimum min(2, N)) or `MIN:MAX`."""
    low, sep, high = raw.partition(":")
    maximum = int(high if sep else low)
    minimum = int(low) if sep else min(2, maximum)
    if not 0 <= minimum <= maximum or maximum < 1:
        raise ValueError("must be N or MIN:MAX with 0 <= MIN <= MAX and MAX >= 1")
    return PoolSize(minimum, maximum)
