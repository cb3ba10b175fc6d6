"""Fast unit tests of router.ratelimit: the in-process bucket's arithmetic on a controlled clock (exact values, no
sleeps), its memory bound, and the Redis bucket against a real redis-server with bounds taken from the measured
clock. Part of the mutation check (scripts/mutation.sh); test_ratelimit.py covers both through running routers."""
from __future__ import annotations

import logging
import time

import pytest

from router import ratelimit
from router.ratelimit import LocalRateLimiter, RedisRateLimiter

session_loop = pytest.mark.asyncio(loop_scope="session")


class Clock:
    """The limiter's view of time.monotonic, moved by the test (powers of two keep the float arithmetic exact)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "time", fake)   # this module's clock only; asyncio keeps the real one
    return fake


@session_loop
async def test_burst_then_wait_for_the_next_token(clock):
    limiter = LocalRateLimiter(rate_per_s=2.0, burst=3)
    assert [await limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.acquire("k") == 0.5            # empty: one token takes 1 / 2 s
    assert await limiter.acquire("k") == 0.5            # a refused call takes nothing
    clock.now += 0.25
    assert await limiter.acquire("k") == 0.25           # half a token has come back
    clock.now += 0.25
    assert await limiter.acquire("k") == 0.0            # a whole one: allowed, and taken
    assert await limiter.acquire("k") == 0.5


@session_loop
async def test_refill_stops_at_the_burst(clock):
    limiter = LocalRateLimiter(rate_per_s=4.0, burst=2)
    assert await limiter.acquire("k") == 0.0
    clock.now += 100.0
    assert [await limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.25]


@session_loop
async def test_fractional_tokens_and_a_burst_of_one(clock):
    limiter = LocalRateLimiter(rate_per_s=0.5, burst=1)
    assert await limiter.acquire("k") == 0.0
    clock.now += 1.5                                     # 0.75 of a token
    assert await limiter.acquire("k") == 0.5
    clock.now += 0.5
    assert await limiter.acquire("k") == 0.0             # exactly 1.0 token: allowed
    assert await limiter.acquire("k") == 2.0


@session_loop
async def test_keys_have_their_own_buckets(clock):
    limiter = LocalRateLimiter(rate_per_s=1.0, burst=1)
    assert await limiter.acquire("a") == 0.0 and await limiter.acquire("a") == 1.0
    assert await limiter.acquire("b") == 0.0 and await limiter.acquire("b") == 1.0


@session_loop
async def test_memory_is_bounded_by_forgetting_the_oldest_bucket(clock):
    limiter = LocalRateLimiter(rate_per_s=1.0, burst=1, max_keys=3)
    for key in "abc":
        assert await limiter.acquire(key) == 0.0
    assert await limiter.acquire("b") == 1.0             # an existing key evicts nothing
    assert sorted(limiter._buckets) == ["a", "b", "c"]
    assert await limiter.acquire("d") == 0.0             # a fourth key: "a", the oldest, is forgotten
    assert sorted(limiter._buckets) == ["b", "c", "d"]
    assert await limiter.acquire("c") == 1.0
    assert await limiter.acquire("a") == 0.0             # ... and starts over with a full bucket


@session_loop
async def test_the_default_bound_is_100k_keys(clock):
    limiter = LocalRateLimiter(rate_per_s=1.0, burst=1)
    for n in range(100_001):
        await limiter.acquire(f"k{n}")
    assert len(limiter._buckets) == 100_000 and "k0" not in limiter._buckets and "k1" in limiter._buckets


@session_loop
async def test_redis_bucket_shares_one_limit(redis_url):
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    prefix = f"test:fast:{time.monotonic_ns()}"
    try:
        limiter = RedisRateLimiter(redis, rate_per_s=1.0, burst=2, prefix=prefix)
        other_replica = RedisRateLimiter(redis, rate_per_s=1.0, burst=2, prefix=prefix)
        started = time.monotonic()
        assert await limiter.acquire("k") == 0.0 and await other_replica.acquire("k") == 0.0
        wait = await limiter.acquire("k")
        elapsed = time.monotonic() - started
        # One token takes 1 s; what refilled while the calls travelled is off it (bounds from the measured clock).
        assert 1.0 - elapsed - 1e-6 <= wait <= 1.0
        assert wait * 1e6 == pytest.approx(round(wait * 1e6), abs=1e-6)   # whole microseconds, from the script
        assert await other_replica.acquire("other key") == 0.0
        assert await redis.exists(f"{prefix}:{{k}}") == 1          # one hash slot per key in a cluster
    finally:
        await redis.aclose()


@session_loop
async def test_redis_bucket_default_prefix(redis_url):
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    key = f"fast-{time.monotonic_ns()}"
    try:
        assert await RedisRateLimiter(redis, 1.0, 1).acquire(key) == 0.0
        assert await redis.exists(f"vomid:ratelimit:{{{key}}}") == 1
    finally:
        await redis.aclose()


@session_loop
async def test_unreachable_redis_lets_requests_through_and_says_so(caplog):
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))   # at once
    caplog.set_level(logging.WARNING, logger="router.ratelimit")
    try:
        assert await RedisRateLimiter(redis, 1.0, 1).acquire("k") == 0.0
    finally:
        await redis.aclose()
    [record] = [r for r in caplog.records if r.name == "router.ratelimit"]
    message = record.getMessage()
    assert message.startswith("rate limiter: redis unavailable, letting the request through: ")
    assert "127.0.0.1:1" in message   # the log names the error
