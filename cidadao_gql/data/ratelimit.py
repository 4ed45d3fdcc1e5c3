"""Cost-based rate limiting: a leaky bucket of query-cost points per client.

A bucket holds up to `capacity` points and refills at `restore_rate` points a second. A
request spends its requested cost up front (or is throttled, with the seconds until it
would fit) and gets back the difference between requested and actual cost afterwards.

With Redis the bucket is one hash per client, changed only by an atomic script, so every
instance shares it. Without Redis each instance keeps its own. If Redis fails, reads are
let through (fail open), writes are not, and the failure is logged and counted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cidadao_gql import metrics
from cidadao_gql.errors import LimiterUnavailable

log = logging.getLogger("cidadao_gql.ratelimit")
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Allowance:
    """A bucket of its own, for a client (an API key) that the default one would hold back:
    `capacity` points, refilled at `refill` points a second."""

    capacity: float
    refill: float


@dataclass(frozen=True, slots=True)
class BucketStatus:
    maximum_available: float
    currently_available: float
    restore_rate: float

    def as_extension(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": round(self.currently_available, 3),
            "restoreRate": self.restore_rate,
        }


@dataclass(frozen=True, slots=True)
class Spend:
    allowed: bool
    status: BucketStatus

    def retry_after(self, cost: float) -> float:
        """Seconds until `cost` points will be available."""
        missing = cost - self.status.currently_available
        return max(missing, 0) / self.status.restore_rate


class Limiter(Protocol):
    capacity: float
    restore_rate: float

    async def spend(
        self, client: str, cost: float, *, read_only: bool, allowance: Allowance | None = None
    ) -> Spend: ...

    async def refund(
        self, client: str, points: float, allowance: Allowance | None = None
    ) -> BucketStatus: ...


def _leak(
    available: float, elapsed: float, cost: float, capacity: float, rate: float
) -> tuple[bool, float]:
    """The bucket after `elapsed` seconds of refill and a spend of `cost` (negative: refund)."""
    level = min(capacity, available + max(elapsed, 0.0) * rate)
    if cost > level:
        return False, level
    return True, min(capacity, level - cost)


class LocalLimiter:
    """Buckets in this process only: the default without Redis, and for tests."""

    def __init__(self, capacity: float, restore_rate: float, clock: Clock = time.monotonic) -> None:
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def _apply(
        self, client: str, cost: float, allowance: Allowance | None
    ) -> tuple[bool, BucketStatus]:
        capacity, rate = _bucket(self, allowance)
        now = self.clock()
        available, last = self.buckets.get(client, (capacity, now))
        allowed, level = _leak(available, now - last, cost, capacity, rate)
        self.buckets[client] = (level, now)
        return allowed, BucketStatus(capacity, level, rate)

    async def spend(
        self, client: str, cost: float, *, read_only: bool, allowance: Allowance | None = None
    ) -> Spend:
        allowed, status = self._apply(client, cost, allowance)
        return Spend(allowed, status)

    async def refund(
        self, client: str, points: float, allowance: Allowance | None = None
    ) -> BucketStatus:
        return self._apply(client, -points, allowance)[1]


def _bucket(limiter: Limiter, allowance: Allowance | None) -> tuple[float, float]:
    """(capacity, refill) of a client's bucket: its allowance's, or the limiter's default."""
    if allowance is None:
        return limiter.capacity, limiter.restore_rate
    return allowance.capacity, allowance.refill


# KEYS[1] the bucket; ARGV capacity, rate, cost (negative refunds), now (negative: use the
# server's clock, so that instances with skewed clocks agree). Returns {allowed, level}.
_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'available', 'ts')
local available = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
local level = math.min(capacity, available + math.max(now - ts, 0) * rate)
local allowed = 1
if cost > level then
  allowed = 0
else
  level = math.min(capacity, level - cost)
end
redis.call('HSET', KEYS[1], 'available', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {allowed, tostring(level)}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every instance."""

    def __init__(
        self,
        redis: aioredis.Redis,
        capacity: float,
        restore_rate: float,
        clock: Clock | None = None,
        prefix: str = "cidadao:bucket:",
    ) -> None:
        self.redis = redis
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.clock = clock
        self.prefix = prefix
        self.script = redis.register_script(_SCRIPT)

    async def _apply(
        self, client: str, cost: float, allowance: Allowance | None
    ) -> tuple[bool, BucketStatus]:
        capacity, rate = _bucket(self, allowance)
        now = -1.0 if self.clock is None else self.clock()
        allowed, level = await self.script(
            keys=[self.prefix + client], args=[capacity, rate, cost, now]
        )
        return bool(allowed), BucketStatus(capacity, float(level), rate)

    def _failed(self, exc: Exception, action: str) -> None:
        metrics.RATE_LIMITER_FAILURES.inc()
        log.warning("rate limiter: Redis unavailable on %s (%s)", action, exc)

    async def spend(
        self, client: str, cost: float, *, read_only: bool, allowance: Allowance | None = None
    ) -> Spend:
        try:
            allowed, status = await self._apply(client, cost, allowance)
        except (RedisError, OSError) as exc:
            self._failed(exc, "spend")
            if not read_only:
                raise LimiterUnavailable(
                    "the rate limiter is unavailable; writes are refused until it is back"
                ) from None
            capacity, rate = _bucket(self, allowance)
            return Spend(True, BucketStatus(capacity, capacity, rate))
        return Spend(allowed, status)

    async def refund(
        self, client: str, points: float, allowance: Allowance | None = None
    ) -> BucketStatus:
        try:
            return (await self._apply(client, -points, allowance))[1]
        except (RedisError, OSError) as exc:
            self._failed(exc, "refund")
            capacity, rate = _bucket(self, allowance)
            return BucketStatus(capacity, capacity, rate)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
