"""Per-key token buckets: 429 + Retry-After in one router, and one limit shared by two routers through Redis."""
from __future__ import annotations

import asyncio
import time

import pytest

from router.ratelimit import LocalRateLimiter, RedisRateLimiter

pytestmark = pytest.mark.asyncio(loop_scope="session")

TIGHT = {"enabled": True, "rate_per_s": 0.01, "burst": 3}


async def statuses(client, key, n):
    out = []
    for _ in range(n):
        response = await client.get("/api/v1/voiceprint/nobody", headers={"X-API-Key": key})
        out.append(response.status)
        if response.status == 429:
            body = await response.json()
            assert body["error"]["code"] == "rate_limited" and int(response.headers["Retry-After"]) >= 1
    return out


async def test_local_limit_per_key(make_client, router_settings, admin_key, verify_key):
    client = await make_client(router_settings(rate_limit={**TIGHT, "backend": "memory"}))
    assert await statuses(client, admin_key, 5) == [404, 404, 404, 429, 429]
    assert await statuses(client, verify_key, 3) == [404, 404, 404]  # its own bucket
    assert (await client.get("/health")).status == 200  # public endpoints are not limited


async def test_two_routers_share_one_redis_limit(make_client, router_settings, admin_key, redis_url):
    settings = router_settings(rate_limit={**TIGHT, "backend": "redis"}, redis={"url": redis_url})
    first, second = await make_client(settings), await make_client(settings)
    assert await statuses(first, admin_key, 2) == [404, 404]
    assert await statuses(second, admin_key, 2) == [404, 429]
    assert await statuses(first, admin_key, 1) == [429]
    health = await (await first.get("/health", headers={"X-API-Key": admin_key})).json()
    assert health["backends"]["redis"]["ok"] is True


async def test_redis_bucket_refills_and_reports_wait(redis_url):
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        # Bounds from the measured clock, not a tight constant: the bucket refills while the calls travel.
        limiter = RedisRateLimiter(redis, rate_per_s=10.0, burst=2, prefix=f"test:refill:{time.monotonic_ns()}")
        started = time.monotonic()
        assert [await limiter.acquire("k") for _ in range(2)] == [0.0, 0.0]
        wait = await limiter.acquire("k")
        elapsed = time.monotonic() - started
        assert 0.1 - elapsed - 0.001 <= wait <= 0.1  # one token takes 0.1 s; what refilled meanwhile is off it
        await asyncio.sleep(wait + 0.002)
        assert await limiter.acquire("k") == 0.0  # refilled after the wait it reported
        slow = RedisRateLimiter(redis, rate_per_s=0.5, burst=1, prefix="test:slow")
        assert await slow.acquire("k") == 0.0 and 1.5 < await slow.acquire("k") <= 2.0
    finally:
        await redis.aclose()


async def test_unreachable_redis_lets_requests_through():
    from redis.asyncio import Redis

    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        assert await RedisRateLimiter(redis, 1.0, 1).acquire("k") == 0.0
    finally:
        await redis.aclose()


async def test_local_bucket_wait_and_bounded_memory():
    limiter = LocalRateLimiter(rate_per_s=2.0, burst=1, max_keys=10)
    started = time.monotonic()
    assert await limiter.acquire("a") == 0.0
    wait = await limiter.acquire("a")
    assert 0.5 - (time.monotonic() - started) <= wait <= 0.5  # bounds from the measured clock
    for n in range(50):
        await limiter.acquire(f"k{n}")
    assert len(limiter._buckets) <= 10
