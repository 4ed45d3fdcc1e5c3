"""L2: Redis, shared by every instance, bounded by the cache itself, and never allowed to
take the API down with it.

Entries are `[expires_at, delta, payload]`. A sorted set indexes keys by when they were
written; a write past `max_entries` evicts the oldest, in the same atomic script. Redis
errors and timeouts (the client's are milliseconds) count as misses, and open a breaker
that skips Redis for a second, so a dead Redis costs one timeout a second, not one per
request; the first call after that second tries again, so the cache resumes by itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cidadao_gql import metrics
from cidadao_gql.data.cache import codec
from cidadao_gql.data.cache.memory import Entry

log = logging.getLogger("cidadao_gql.cache")
PREFIX = "cidadao:cache:"
INDEX = PREFIX + "index"
BREAK_SECONDS = 1.0

# KEYS: entry keys; ARGV: ttl in ms, max entries, now, then one value per key.
_SET = """
local ttl, limit, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[3 + i], 'PX', ttl)
  redis.call('ZADD', KEYS_INDEX, now, key)
end
local extra = redis.call('ZCARD', KEYS_INDEX) - limit
if extra > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS_INDEX, extra)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
end
return extra
""".replace("KEYS_INDEX", f"'{INDEX}'")

# Unlock only if we still hold the lock (our token), so a slow holder cannot free another's.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTier:
    def __init__(self, redis: aioredis.Redis, max_entries: int) -> None:
        self.redis = redis
        self.max_entries = max_entries
        self.set_script = redis.register_script(_SET)
        self.unlock_script = redis.register_script(_UNLOCK)
        self.broken_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self.broken_until

    def _broke(self, exc: Exception, action: str) -> None:
        self.broken_until = time.monotonic() + BREAK_SECONDS
        metrics.CACHE_ERRORS.labels("l2").inc()
        log.warning("cache: Redis unavailable on %s (%s); L1 and PostgreSQL answer", action, exc)

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            raw = await self.redis.mget([PREFIX + k for k in keys])
        except (RedisError, OSError) as exc:
            self._broke(exc, "read")
            return [None] * len(keys)
        return [None if r is None else _entry(r) for r in raw]

    async def set_many(self, items: Sequence[tuple[str, Entry]], ttl: float, now: float) -> None:
        if not items or not self.available:
            return
        values = [
            orjson.dumps([e.expires_at, e.delta, orjson.Fragment(codec.dumps(e.value))])
            for _, e in items
        ]
        try:
            await self.set_script(
                keys=[PREFIX + k for k, _ in items],
                args=[max(1, int(ttl * 1000)), self.max_entries, now, *values],
            )
        except (RedisError, OSError) as exc:
            self._broke(exc, "write")

    async def lock(self, key: str, seconds: float) -> str | None:
        """A token if we got the lock for `key`, None if another process holds it (or Redis
        is down: then each process computes for itself)."""
        if not self.available:
            return None
        token = uuid.uuid4().hex
        try:
            got = await self.redis.set(
                PREFIX + "lock:" + key, token, nx=True, px=int(seconds * 1000)
            )
        except (RedisError, OSError) as exc:
            self._broke(exc, "lock")
            return None
        return token if got else None

    async def locked(self, key: str) -> bool:
        if not self.available:
            return False
        try:
            return bool(await self.redis.exists(PREFIX + "lock:" + key))
        except (RedisError, OSError) as exc:
            self._broke(exc, "lock check")
            return False

    async def unlock(self, key: str, token: str) -> None:
        try:
            await self.unlock_script(keys=[PREFIX + "lock:" + key], args=[token])
        except (RedisError, OSError) as exc:
            self._broke(exc, "unlock")


def _entry(raw: bytes | str) -> Entry | None:
    try:
        expires_at, delta, payload = orjson.loads(raw)
        return Entry(codec.revive(payload), float(expires_at), float(delta))
    except (ValueError, TypeError):
        return None  # written by another version of us: a miss, not a crash
