"""TritonPool against live servers: parity with a direct call, rejections, retries, ejection, metrics."""
from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from prometheus_client import CollectorRegistry
from tritonclient.utils import InferenceServerException

from vomid.tritonserver import free_port
from router.balancer import InferenceFailed, InferenceRejected, NoHealthyInstance, PoolOverloaded, TritonPool
from tests.conftest import EMBEDDING_DIM
from tests.router.balancer.conftest import pool_config, requests_by_url, waveform
from tools.export.repository import ENSEMBLE_MODEL


def _direct_embedding(url: str, wave: np.ndarray) -> np.ndarray:
    with grpcclient.InferenceServerClient(url) as client:
        batch = wave.reshape(1, -1)
        tensor = grpcclient.InferInput("waveform", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        return client.infer(ENSEMBLE_MODEL, [tensor]).as_numpy("embedding")[0]


def _dead_urls(n: int) -> list[str]:
    return [f"127.0.0.1:{free_port()}" for _ in range(n)]


async def test_embeddings_match_a_direct_call(running):
    waves = [waveform(seconds, seed) for seed, seconds in enumerate((0.5, 1.0, 1.7))]
    async with TritonPool(pool_config(running.urls(), strategy="round_robin")) as pool:
        embeddings = [await pool.embed(wave) for wave in waves]  # one per instance
    for wave, embedding in zip(waves, embeddings):
        reference = _direct_embedding(running.url(0), wave)
        assert embedding.shape == (EMBEDDING_DIM,) and embedding.dtype == np.float32
        assert float(embedding @ reference) / float(np.linalg.norm(embedding) * np.linalg.norm(reference)) >= 0.9999


async def test_model_info_states_and_readiness(running):
    async with TritonPool(pool_config(running.urls())) as pool:
        assert pool.ready()
        info = pool.model_info()
        assert info["embedding_dim"] == EMBEDDING_DIM and info["random_weights"] is True
        assert info["source"].startswith("random")
        states = pool.states()
        assert [s["url"] for s in states] == running.urls()
        assert all(s["healthy"] and not s["ejected"] and s["ejected_until"] is None for s in states)
        assert set(states[0]) >= {"url", "healthy", "ejected", "ejected_until", "in_flight", "requests", "failures",
                                  "latency_ms"}


async def test_too_short_audio_is_rejected_not_retried_and_blames_nobody(running):
    config = pool_config(running.urls(), eject_after_failures=2)
    async with TritonPool(config) as pool:
        for _ in range(4):  # more than eject_after_failures
            with pytest.raises(InferenceRejected, match="too short"):
                await pool.embed(np.zeros(100, dtype=np.float32))
        assert sum(requests_by_url(pool).values()) == 4  # one attempt each: no retry
        assert all(s["failures"] == 0 and not s["ejected"] and s["healthy"] for s in pool.states())
        await pool.embed(waveform())


async def test_no_healthy_instance_when_all_are_down():
    async with TritonPool(pool_config(_dead_urls(2))) as pool:
        assert not pool.ready()
        assert pool.model_info() == {}
        assert not any(s["healthy"] for s in pool.states())
        with pytest.raises(NoHealthyInstance):
            await pool.embed(waveform())


async def test_fault_is_retried_elsewhere_then_the_instance_ejected(running):
    """A dead address still believed healthy (no check since): every call to it fails over to the live one."""
    registry = CollectorRegistry()
    dead, = _dead_urls(1)
    config = pool_config([dead, running.url(0)], strategy="round_robin", health_interval_s=60.0,
                         eject_after_failures=3)
    async with TritonPool(config, registry=registry) as pool:
        pool.instances[0].healthy = True  # as if it had died right after the last check
        for seed in range(8):
            await pool.embed(waveform(seed=seed))
        dead_state, live_state = pool.states()
        assert dead_state["ejected"] and dead_state["failures"] == 3
        assert live_state["requests"] == 8 and live_state["failures"] == 0
        sample = registry.get_sample_value
        assert sample("vomid_triton_ejections_total", {"instance": dead}) == 1
        assert sample("vomid_triton_requests_total", {"instance": dead, "outcome": "unavailable"}) == 3
        assert sample("vomid_triton_requests_total", {"instance": running.url(0), "outcome": "ok"}) == 8
        assert sample("vomid_triton_request_seconds_count", {"instance": running.url(0)}) == 8
        assert sample("vomid_triton_instance_healthy", {"instance": dead}) == 0
        assert sample("vomid_triton_instance_healthy", {"instance": running.url(0)}) == 1


async def test_inference_failed_when_every_attempt_fails():
    dead = _dead_urls(3)
    async with TritonPool(pool_config(dead, retries=1, health_interval_s=60.0)) as pool:
        for instance in pool.instances:
            instance.healthy = True
        with pytest.raises(InferenceFailed, match="2 instance"):
            await pool.embed(waveform())


def test_never_ejects_more_than_the_cap_and_panics_when_too_few_are_admitted():
    pool = TritonPool(pool_config(_dead_urls(4), max_ejection_percent=50, panic_threshold=0.5))
    for instance in pool.instances:
        instance.healthy = True
    error = InferenceServerException(msg="connection refused", status="StatusCode.UNAVAILABLE")
    for instance in pool.instances:
        for _ in range(pool.config.eject_after_failures):
            pool._failure(instance, error, 0.01)
    assert sum(i.ejected for i in pool.instances) == 2  # 50 % of 4: the other two keep serving
    assert len(pool.candidates([])) == 2
    pool.instances[2].healthy = False  # a third fails its health check: 1 admitted of 2 healthy
    pool.config.panic_threshold = 0.75
    assert {i.url for i in pool.candidates([])} == {pool.instances[i].url for i in (0, 1, 3)} - \
        {i.url for i in pool.instances if not i.healthy}  # panic: every healthy instance, ejected or not


async def test_a_busy_instance_that_times_out_is_not_ejected(running):
    """The slow server (200 ms batching delay) misses a 150 ms timeout but still answers: overload, not a fault."""
    slow, fast = running.url(running.SLOW), running.url(running.FAST[0])
    config = pool_config([slow, fast], strategy="round_robin", timeout_s=0.15, retries=1, eject_after_failures=1,
                         health_interval_s=60.0, busy_window_s=60.0)
    async with TritonPool(config) as pool:
        for instance in pool.instances:
            instance.answered()  # both served requests a moment ago
        landed = 0
        for seed in range(6):
            try:
                await pool.embed(waveform(seed=seed), timeout_s=10.0)
                landed += 1
            except PoolOverloaded:  # a loaded test machine may slow the fast one past 150 ms too
                pass
        slow_instance = pool.instances[0]
        assert landed >= 1 and slow_instance.failures >= 1
        assert not any(i.ejected for i in pool.instances) and slow_instance.consecutive_failures == 0
