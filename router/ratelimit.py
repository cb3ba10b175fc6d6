"""Per-key token buckets: in-process, or shared by every router replica through one atomic Redis Lua script.

Both limiters answer `acquire(key) -> retry_after_s` (0.0: allowed). The Redis script reads the clock with
`TIME` on the server, so replicas with skewed clocks still share one consistent bucket.
"""
from __future__ import annotations

import logging
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> float:
        """Takes one token for `key`; returns 0.0 when allowed, else seconds until a token is available."""


class LocalRateLimiter:
    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 100_000):
        self.rate, self.burst, self.max_keys = rate_per_s, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated_at)

    async def acquire(self, key: str) -> float:
        now = time.monotonic()
        tokens, updated = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        if tokens >= 1.0:
            self._remember(key, (tokens - 1.0, now))
            return 0.0
        self._remember(key, (tokens, now))
        return (1.0 - tokens) / self.rate

    def _remember(self, key: str, state: tuple[float, float]) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._buckets.pop(next(iter(self._buckets)))  # bounded memory: forget the oldest bucket
        self._buckets[key] = state


# KEYS[1]: bucket; ARGV: rate per second, burst. Returns {allowed (0/1), retry_after in microseconds}.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000000)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait}
"""


class RedisRateLimiter:
    """Shared limit; if Redis is unreachable requests are let through (logged), not failed."""

    def __init__(self, redis: Redis, rate_per_s: float, burst: int, prefix: str = "vomid:ratelimit"):
        self.rate, self.burst, self.prefix = rate_per_s, burst, prefix
        self._script = redis.register_script(TOKEN_BUCKET_LUA)

    async def acquire(self, key: str) -> float:
        try:
            allowed, wait_us = await self._script(keys=[f"{self.prefix}:{{{key}}}"], args=[self.rate, self.burst])
        except (RedisError, OSError) as exc:
            log.warning("rate limiter: redis unavailable, letting the request through: %s", exc)
            return 0.0
        return 0.0 if int(allowed) else int(wait_us) / 1e6
