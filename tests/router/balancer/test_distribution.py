"""How each strategy spreads real requests over live servers (two fast, one slowed by its batching delay)."""
from __future__ import annotations

import asyncio
import random

from router.balancer import TritonPool
from router.balancer.strategies import RandomChoice
from tests.router.balancer.conftest import Cluster, pool_config, requests_by_url, waveform


async def _sequential(pool: TritonPool, n: int) -> None:
    for seed in range(n):
        await pool.embed(waveform(seed=seed))


async def _concurrent(pool: TritonPool, n: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(seed: int) -> None:
        async with gate:
            await pool.embed(waveform(seed=seed))

    await asyncio.gather(*(one(seed) for seed in range(n)))


async def test_round_robin_splits_evenly(running):
    async with TritonPool(pool_config(running.urls(), strategy="round_robin")) as pool:
        await _sequential(pool, 30)
        assert list(requests_by_url(pool).values()) == [10, 10, 10]


async def test_weighted_round_robin_follows_weights(running):
    fast0, fast1 = running.urls(*Cluster.FAST)
    async with TritonPool(pool_config([fast0, fast1], weights=[3, 1], strategy="weighted_round_robin")) as pool:
        await _sequential(pool, 40)
        assert requests_by_url(pool) == {fast0: 30, fast1: 10}


async def test_random_reaches_every_instance(running):
    async with TritonPool(pool_config(running.urls()), strategy=RandomChoice(random.Random(3))) as pool:
        await _sequential(pool, 30)
        assert min(requests_by_url(pool).values()) >= 4


async def test_least_connections_spreads_a_burst(running):
    async with TritonPool(pool_config(running.urls(), strategy="least_connections")) as pool:
        await _concurrent(pool, 30, concurrency=30)  # every pick sees the ones before it in flight
        assert list(requests_by_url(pool).values()) == [10, 10, 10]


async def test_least_connections_sends_less_to_the_slow_instance_under_load(running):
    async with TritonPool(pool_config(running.urls(), strategy="least_connections")) as pool:
        await _concurrent(pool, 60, concurrency=4)
        counts = requests_by_url(pool)
        slow = counts[running.url(Cluster.SLOW)]
        assert all(slow < counts[running.url(i)] for i in Cluster.FAST), counts


async def test_least_response_time_prefers_the_faster_instances(running):
    async with TritonPool(pool_config(running.urls(), strategy="least_response_time")) as pool:
        await _sequential(pool, 30)
        counts = requests_by_url(pool)
        # Round robin would send it 10; once measured, the slow one only wins if the fast ones get much slower.
        assert counts[running.url(Cluster.SLOW)] <= 3, counts
        latency = {s["url"]: s["latency_ms"] for s in pool.states()}
        assert latency[running.url(Cluster.SLOW)] > max(latency[running.url(i)] for i in Cluster.FAST)
