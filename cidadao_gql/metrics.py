"""Prometheus metrics, each defined once, here, at import."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RATE_LIMITER_FAILURES = Counter(
    "cidadao_ai_rate_limiter_failures",
    "Rate-limiter calls that failed because Redis was unreachable (reads were let through).",
)
QUERY_REJECTIONS = Counter(
    "cidadao_ai_query_rejections",
    "Operations refused before execution, by error code.",
    ["code"],
)

CACHE_REQUESTS = Counter(
    "cidadao_ai_cache_requests",
    "Cache lookups by tier, namespace and result (hit or miss).",
    ["tier", "namespace", "result"],
)
CACHE_HIT_RATIO = Gauge(
    "cidadao_ai_cache_hit_ratio",
    "Hits over lookups since start, by tier (l1, l2, l3, response).",
    ["tier"],
    multiprocess_mode="livemax",
)
CACHE_RECOMPUTES = Counter(
    "cidadao_ai_cache_recomputes", "Values computed because the cache missed.", ["namespace"]
)
CACHE_LOCK_WAITS = Counter(
    "cidadao_ai_cache_lock_waits",
    "Callers that waited for another's computation (process: single flight; cluster: Redis lock).",
    ["scope"],
)
CACHE_INVALIDATIONS = Counter(
    "cidadao_ai_cache_invalidations",
    "Versioned namespaces bumped, as this instance saw them.",
    ["version"],
)
CACHE_ERRORS = Counter(
    "cidadao_ai_cache_errors", "Cache tier failures (answered as misses).", ["tier"]
)

_lookups: dict[str, list[int]] = {}


def cache_lookup(tier: str, namespace: str, hit: bool) -> None:
    CACHE_REQUESTS.labels(tier, namespace, "hit" if hit else "miss").inc()
    counts = _lookups.setdefault(tier, [0, 0])
    counts[0] += hit
    counts[1] += 1
    CACHE_HIT_RATIO.labels(tier).set(counts[0] / counts[1])
