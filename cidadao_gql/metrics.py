"""Prometheus metrics, each defined once, here, at import."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

RATE_LIMITER_FAILURES = Counter(
    "cidadao_ai_rate_limiter_failures",
    "Rate-limiter calls that failed because Redis was unreachable (reads were let through).",
)
AGENT_POOL_SIZE = Gauge("cidadao_ai_agent_pool_size", "Workers in the investigation executor.")
AGENT_POOL_UTILIZATION = Gauge(
    "cidadao_ai_agent_pool_utilization", "Share of the executor's workers running a job."
)
QUERY_REJECTIONS = Counter(
    "cidadao_ai_query_rejections",
    "Operations refused before execution, by error code.",
    ["code"],
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

# Cache lookups happen several times per request, on the hot path of a response-cache hit:
# they are counted in a plain dict (no locks, no label lookups) and exposed at scrape time.
_lookups: dict[tuple[str, str, bool], int] = defaultdict(int)


def cache_lookup(tier: str, namespace: str, hit: bool) -> None:
    _lookups[(tier, namespace, hit)] += 1


class _CacheCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "cidadao_ai_cache_requests",
            "Cache lookups by tier, namespace and result (hit or miss).",
            labels=["tier", "namespace", "result"],
        )
        by_tier: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (tier, namespace, hit), count in list(_lookups.items()):
            requests.add_metric([tier, namespace, "hit" if hit else "miss"], count)
            by_tier[tier][0] += count if hit else 0
            by_tier[tier][1] += count
        ratio = GaugeMetricFamily(
            "cidadao_ai_cache_hit_ratio",
            "Hits over lookups since start, by tier (response, l1, l2, l3).",
            labels=["tier"],
        )
        for tier, (hits, total) in by_tier.items():
            ratio.add_metric([tier], hits / total)
        yield requests
        yield ratio


REGISTRY.register(_CacheCollector())
