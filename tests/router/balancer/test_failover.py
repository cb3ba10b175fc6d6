"""Failover: a server crashes (SIGKILL) mid-burst and comes back on the same ports; another one hangs (SIGSTOP).

Expected: retries hide the crash from callers, the dead instance is ejected and gets nothing afterwards (nor after
its ejection expires, since its health check fails), and the restarted server is re-admitted by the health checks.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from router.balancer import NoHealthyInstance, TritonPool
from tests.router.balancer.conftest import pool_config, waveform

BURST = 200
CONCURRENCY = 16
KILL_AFTER = 50  # completed requests before the crash
VICTIM = 0


async def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)  # polling a condition, bounded by the deadline


async def test_crash_mid_burst_is_hidden_by_retries_and_the_restarted_server_is_readmitted(running):
    config = pool_config(running.urls(), strategy="least_connections", health_interval_s=0.5,
                         eject_after_failures=3, readmit_after_s=1.0, retries=2, timeout_s=10.0)
    async with TritonPool(config) as pool:
        victim = pool.instances[VICTIM]
        gate = asyncio.Semaphore(CONCURRENCY)
        completed = 0
        crash_due = asyncio.Event()
        errors: list[BaseException] = []
        requests_when_out: list[int] = []

        async def one(seed: int) -> None:
            nonlocal completed
            async with gate:
                try:
                    await pool.embed(waveform(seed=seed))
                except Exception as error:  # counted, and reported by the assertion below
                    errors.append(error)
            completed += 1
            if completed == KILL_AFTER:
                crash_due.set()

        async def crash() -> None:
            await crash_due.wait()
            await asyncio.to_thread(running.kill, VICTIM)
            await _wait_for(lambda: not victim.available, 10, "the dead instance to leave the rotation")
            requests_when_out.append(victim.requests)

        crasher = asyncio.create_task(crash())
        await asyncio.gather(*(one(seed) for seed in range(BURST)))
        await crasher

        print(f"\nkill test: {len(errors)} of {BURST} requests failed; victim state {victim.state()}")
        assert len(errors) <= BURST // 100, errors[:3]  # expected 0; retries cover in-flight calls
        assert victim.failures >= 1  # the crash really hit traffic
        state = victim.state()
        assert not state["healthy"] or state["ejected"]

        # Once out of the rotation, the dead instance gets nothing, even after its ejection has expired.
        await asyncio.sleep(config.readmit_after_s + 2 * config.health_interval_s)  # let re-admission fall due
        for seed in range(30):
            await pool.embed(waveform(seed=seed))
        assert victim.requests == requests_when_out[0]
        assert not victim.available

        # With only the dead server configured, callers get the error the router turns into a 503.
        async with TritonPool(pool_config([victim.url])) as lone:
            assert not lone.ready() and lone.states()[0]["healthy"] is False
            with pytest.raises(NoHealthyInstance):
                await lone.embed(waveform())

        await asyncio.to_thread(running.revive, VICTIM)
        await _wait_for(lambda: victim.available, 20, "the restarted server to be re-admitted")
        before = victim.requests
        for seed in range(30):
            await pool.embed(waveform(seed=seed))
        assert victim.requests - before >= 5  # back in the rotation (ties rotate: about a third)



async def test_hung_server_times_out_and_is_bypassed(running):
    """A frozen server (SIGSTOP) accepts connections but never answers: timeouts, not refusals, must fail over."""
    hung = 1
    config = pool_config(running.urls(), strategy="round_robin", timeout_s=1.0, health_interval_s=0.5,
                         readmit_after_s=0.5)
    async with TritonPool(config) as pool:
        instance = pool.instances[hung]
        os.kill(running.servers[hung].pid, signal.SIGSTOP)
        try:
            for seed in range(12):
                await pool.embed(waveform(seed=seed))  # every call succeeds, some after a timeout and a retry
            assert not instance.available
            assert instance.failures >= 1 and instance.requests == instance.failures
        finally:
            os.kill(running.servers[hung].pid, signal.SIGCONT)
        await _wait_for(lambda: instance.available, 20, "the thawed server to be re-admitted")
        before = instance.requests
        for seed in range(6):
            await pool.embed(waveform(seed=seed))
        assert instance.requests - before == 2
