"""Prometheus metrics, each defined once, here, at import."""

from __future__ import annotations

from prometheus_client import Counter

RATE_LIMITER_FAILURES = Counter(
    "cidadao_ai_rate_limiter_failures",
    "Rate-limiter calls that failed because Redis was unreachable (reads were let through).",
)
QUERY_REJECTIONS = Counter(
    "cidadao_ai_query_rejections",
    "Operations refused before execution, by error code.",
    ["code"],
)
