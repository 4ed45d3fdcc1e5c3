"""Prometheus metrics, each defined once, here, at import.

With several uvicorn workers, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory
before the workers start; each writes its samples there and `/metrics` (in whichever worker
answers) adds them up. Gauges say how they combine across workers (`multiprocess_mode`).
The cache hit ratio is not a sample of its own: it is worked out at scrape time from the
summed lookup counters, so it is right across workers too.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10)

REQUEST_DURATION = Histogram(
    "cidadao_ai_request_duration_seconds",
    "Time to answer a GraphQL request, by operation name (`anonymous` when it has none, "
    "`other` past the first 200 names) and how it was answered.",
    ["operation", "path"],
    buckets=LATENCY_BUCKETS,
)
DB_QUERY_DURATION = Histogram(
    "cidadao_ai_db_query_duration_seconds",
    "Time PostgreSQL statements took, as asyncpg measured them, by pool.",
    ["pool"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter(
    "cidadao_ai_errors", "Errors answered to clients, by code (GraphQL and HTTP).", ["code"]
)
COST_SPENT = Counter(
    "cidadao_ai_query_cost", "Actual cost of executed operations (the IBM cost model)."
)
OVERLOAD_REJECTIONS = Counter(
    "cidadao_ai_overload_rejections",
    "Requests answered 503 because the worker had MAX_CONCURRENT_REQUESTS in flight.",
)
IN_FLIGHT = Gauge(
    "cidadao_ai_requests_in_flight", "HTTP requests being answered.", multiprocess_mode="livesum"
)
DB_POOL_CONNECTIONS = Gauge(
    "cidadao_ai_db_pool_connections",
    "Connections in the asyncpg pools, by pool and state (open, idle).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
WEBSOCKET_MESSAGES = Counter(
    "cidadao_ai_websocket_messages",
    "WebSocket messages, by direction (in, out).",
    ["direction"],
)
WEBSOCKET_MESSAGE_RATE = Gauge(
    "cidadao_ai_websocket_message_rate",
    "WebSocket messages per second over the last 10 seconds, by direction.",
    ["direction"],
    multiprocess_mode="livesum",
)
EXECUTION_PATH = Counter(
    "cidadao_ai_execution_path",
    "Operations by how they ran: compiled, ordinary (planned so), or fallback (compiled, "
    "then run again on the ordinary path for an exact error answer).",
    ["path"],
)
COMPILED_FIELDS = Counter(
    "cidadao_ai_compiled_fields",
    "Root fields of compiled plans by how they ran: statement (one statement, JSON built by "
    "PostgreSQL) or levels (a statement per level), and why not in one statement.",
    ["how", "reason"],
)
# The children every compiled operation counts itself in, bound once: `labels` is some
# 2.5 µs a call (a tuple of str() of each value, then a lookup under a lock), twice per
# operation answered by one statement.
COMPILED_OPERATIONS = EXECUTION_PATH.labels("compiled")
STATEMENT_FIELDS = COMPILED_FIELDS.labels("statement", "")
RATE_LIMITER_FAILURES = Counter(
    "cidadao_ai_rate_limiter_failures",
    "Rate-limiter calls that failed because Redis was unreachable (reads were let through).",
)
AGENT_POOL_SIZE = Gauge(
    "cidadao_ai_agent_pool_size",
    "Workers in the investigations' agent pool.",
    multiprocess_mode="livesum",
)
AGENT_POOL_UTILIZATION = Gauge(
    "cidadao_ai_agent_pool_utilization",
    "Share of the agent pool's workers running a job (the busiest process's).",
    multiprocess_mode="livemax",
)
DEPENDENCY_UP = Gauge(
    "cidadao_ai_dependency_up",
    "1 while a dependency (database, migrations, redis) answers as needed, else 0; checked "
    "every few seconds and by each readiness probe (the worst process's).",
    ["dependency"],
    multiprocess_mode="livemin",
)
# The investigation queue. PostgreSQL is its source of truth (Redis only carries jobs), so
# depth and age are read there: a job Redis lost still counts as waiting.
QUEUE_DEPTH = Gauge(
    "cidadao_ai_investigation_queue_depth",
    "Investigations pending (created, not yet started), as PostgreSQL has them.",
    multiprocess_mode="livemax",
)
QUEUE_OLDEST_AGE = Gauge(
    "cidadao_ai_investigation_oldest_pending_seconds",
    "Age of the oldest pending investigation; 0 when none waits.",
    multiprocess_mode="livemax",
)
JOBS_STARTED = Counter(
    "cidadao_ai_investigation_jobs_started", "Investigation attempts a worker started."
)
JOBS_RETRIED = Counter(
    "cidadao_ai_investigation_jobs_retried",
    "Attempts after the first (the job was redelivered or claimed from a worker that died).",
)
JOBS_FAILED = Counter(
    "cidadao_ai_investigation_jobs_failed",
    "Investigations that ended failed (an agent raised, or attempts ran out).",
)
JOBS_RECOVERED = Counter(
    "cidadao_ai_investigation_jobs_recovered",
    "Unfinished investigations submitted to the queue again from PostgreSQL.",
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
RESPONSE_HITS = Counter(
    "cidadao_ai_response_cache_hits",
    "Response-cache hits by the path that answered them (fast: before Starlette builds a"
    " request; full: after authentication) and the content coding they went out in.",
    ["path", "encoding"],
)
EDGE_PURGES = Counter(
    "cidadao_ai_edge_purges",
    "Purges of a namespace's answers sent to an edge cache (EDGE_PURGE_URL), by outcome"
    " (failed: after every retry).",
    ["outcome"],
)
RESPONSE_ENCODINGS = Counter(
    "cidadao_ai_response_cache_encodings",
    "Cached answers compressed, by coding: once per answer and coding in a process; later"
    " hits send the bytes kept.",
    ["encoding"],
)

# Cache lookups happen several times per request, on the hot path of a response-cache hit:
# they are counted in a plain dict (no locks, no label lookups) and moved into the counter
# by `flush`, which `/metrics` and a once-a-second task call.
_lookups: dict[tuple[str, str, bool], int] = defaultdict(int)
_hits: dict[tuple[str, str], int] = defaultdict(int)


def cache_lookup(tier: str, namespace: str, hit: bool) -> None:
    _lookups[(tier, namespace, hit)] += 1


def response_hit(path: str, encoding: str) -> None:
    _hits[(path, encoding)] += 1


# The fast path's latencies, by operation: the sum and the count per bucket of
# REQUEST_DURATION, added to the histogram by `flush`. An observation per hit (a label
# lookup, then a multiprocess write per bucket and sum, each behind a pid check) was 3 % of
# a worker's time on a browser's hit (py-spy, benchmarks/hit_path.py).
_durations: dict[str, list[float]] = {}


def fast_hit(encoding: str, operation: str, seconds: float) -> None:
    """A response-cache hit the fast path answered: the lookup, the hit, its latency."""
    _lookups[("response", "response", True)] += 1
    _hits[("fast", encoding)] += 1
    kept = _durations.get(operation)
    if kept is None:
        kept = _durations[operation] = [0.0] * (len(LATENCY_BUCKETS) + 2)
    kept[0] += seconds
    kept[1 + bisect_left(LATENCY_BUCKETS, seconds)] += 1  # observe's `amount <= bound`


# Requests in flight in this process. Setting the multiprocess gauge on every request (an
# mmap write behind a pid check, twice) was 6 % of a worker's time on the response cache's
# hit path (py-spy, benchmarks/hit_path.py); `flush` sets it once a second instead.
_in_flight = 0


def in_flight(change: int) -> None:
    global _in_flight
    _in_flight += change


def flush() -> None:
    IN_FLIGHT.set(_in_flight)
    for key in list(_lookups):
        count = _lookups.pop(key, 0)
        if count:
            tier, namespace, hit = key
            CACHE_REQUESTS.labels(tier, namespace, "hit" if hit else "miss").inc(count)
    for path, encoding in list(_hits):
        count = _hits.pop((path, encoding), 0)
        if count:
            RESPONSE_HITS.labels(path, encoding).inc(count)
    for operation in list(_durations):
        observed(REQUEST_DURATION.labels(operation, "cache"), _durations.pop(operation))


def observed(histogram: Histogram, kept: list[float]) -> None:
    """Adds to a histogram's child the sum and bucket counts of `kept` (as `fast_hit` keeps
    them) as that many `observe` calls would. prometheus_client has no call for it: this
    writes its private values (`_sum`, `_buckets`), here only; tests/test_observability.py
    compares the samples with `observe`'s and fails when a release changes them."""
    histogram._sum.inc(kept[0])
    for bucket, count in zip(histogram._buckets, kept[1:], strict=True):
        if count:
            bucket.inc(count)


_OPERATIONS_KEPT = 200
_operations: set[str] = set()
# REQUEST_DURATION's children by operation and how it was answered, as `labels` gives them
# (some 2.5 µs a call): at most 201 operations × the few ways of answering.
_request_durations: dict[tuple[str, str], Histogram] = {}


def request_answered(name: str | None, answered_by: str, seconds: float) -> None:
    """A request's latency, by its operation's label and how it was answered."""
    key = (operation_label(name), answered_by)
    child = _request_durations.get(key)
    if child is None:
        child = _request_durations[key] = REQUEST_DURATION.labels(*key)
    child.observe(seconds)


def operation_label(name: str | None) -> str:
    """Operation names come from clients: the first 200 are labels, the rest `other`."""
    if not name:
        return "anonymous"
    if name in _operations:
        return name
    if len(_operations) < _OPERATIONS_KEPT:
        _operations.add(name)
        return name
    return "other"


class MessageRate:
    """Messages per second over a sliding 10-second window, in one-second buckets."""

    WINDOW = 10

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.buckets: dict[int, int] = defaultdict(int)

    def add(self, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        self.buckets[second] += 1
        WEBSOCKET_MESSAGES.labels(self.direction).inc()
        self.publish(second)

    def publish(self, second: int | None = None) -> None:
        second = second if second is not None else int(time.monotonic())
        for old in [s for s in self.buckets if s <= second - self.WINDOW]:
            del self.buckets[old]
        rate = sum(self.buckets.values()) / self.WINDOW
        WEBSOCKET_MESSAGE_RATE.labels(self.direction).set(rate)


WEBSOCKET_IN = MessageRate("in")
WEBSOCKET_OUT = MessageRate("out")


class _Exposed(Collector):
    """Every metric of `source`, and cidadao_ai_cache_hit_ratio by tier worked out from
    its (summed) lookup counters."""

    def __init__(self, source: Collector) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        by_tier: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for metric in self.source.collect():
            yield metric
            if metric.name != "cidadao_ai_cache_requests":
                continue
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    counts = by_tier[sample.labels["tier"]]
                    counts[0] += sample.value if sample.labels["result"] == "hit" else 0
                    counts[1] += sample.value
        ratio = GaugeMetricFamily(
            "cidadao_ai_cache_hit_ratio",
            "Hits over lookups since start, by tier (response, l1, l2, l3).",
            labels=["tier"],
        )
        for tier, (hits, total) in sorted(by_tier.items()):
            if total:
                ratio.add_metric([tier], hits / total)
        yield ratio


def process_ended() -> None:
    """Drop this process's live gauges from the shared samples (a worker that stopped)."""
    if MULTIPROCESS:
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # unannotated upstream


def exposition() -> tuple[bytes, str]:
    """The text `/metrics` answers, and its media type."""
    flush()
    WEBSOCKET_IN.publish()
    WEBSOCKET_OUT.publish()
    source: Collector = (
        MultiProcessCollector(None)  # type: ignore[no-untyped-call]  # unannotated upstream
        if MULTIPROCESS
        else REGISTRY
    )
    return generate_latest(_Exposed(source)), CONTENT_TYPE_LATEST
