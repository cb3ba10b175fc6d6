"""Live Triton servers for the balancer tests: three per package run, two alike and one slowed down.

The slow one serves the same models with a 200 ms batching delay on the feature model, so a lone request waits
the full delay there: a real, steady latency gap for least_response_time to find. Tests that kill a server
bring it back on the same ports (`Cluster.revive`), so every test may assume three running servers.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from vomid.tritonserver import TritonServer
from router.balancer import BalancerConfig, InstanceConfig
from tools.export.repository import FEATURES_MODEL

SLOW_QUEUE_DELAY_US = 200_000
SAMPLE_RATE = 16000


class Cluster:
    """Servers 0 and 1 are fast, server 2 is slow."""

    FAST = (0, 1)
    SLOW = 2

    def __init__(self, servers: list[TritonServer]):
        self.servers = servers
        self._revived: list[TritonServer] = []

    def url(self, index: int) -> str:
        return self.servers[index].grpc_url

    def urls(self, *indices: int) -> list[str]:
        return [self.url(i) for i in (indices or range(len(self.servers)))]

    def kill(self, index: int) -> None:
        self.servers[index].kill()

    def revive(self, index: int) -> TritonServer:
        """Starts a new server on the dead one's ports, as a supervisor restarting a crashed process would."""
        old = self.servers[index]
        new = TritonServer(old.model_repository, http_port=old.http_port, grpc_port=old.grpc_port,
                           metrics_port=old.metrics_port, name=f"{old.name}-revived")
        self._revived.append(new)
        self.servers[index] = new.start()
        return new

    def ensure_running(self) -> None:
        for index, server in enumerate(self.servers):
            if not server.is_running():
                self.revive(index)

    def stop_revived(self) -> None:
        for server in self._revived:
            server.stop()


@pytest.fixture(scope="package")
def slow_repository(model_repository: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("slow_repository")
    shutil.copytree(model_repository, root, dirs_exist_ok=True)
    config = root / FEATURES_MODEL / "config.pbtxt"
    text = config.read_text()
    slowed = re.sub(r"max_queue_delay_microseconds: \d+", f"max_queue_delay_microseconds: {SLOW_QUEUE_DELAY_US}",
                    text)
    assert slowed != text, "the feature model config has no dynamic batching delay to stretch"
    config.write_text(slowed)
    return root


@pytest.fixture(scope="package")
def cluster(triton_factory, slow_repository):
    servers = [triton_factory(name="balancer-fast0"), triton_factory(name="balancer-fast1"),
               triton_factory(slow_repository, name="balancer-slow")]
    cluster = Cluster(servers)
    yield cluster
    cluster.stop_revived()


@pytest.fixture
def running(cluster) -> Cluster:
    """The cluster with all three servers up (a previous test may have killed one)."""
    cluster.ensure_running()
    return cluster


def pool_config(urls: list[str], weights: list[int] | None = None, **settings) -> BalancerConfig:
    weights = weights or [1] * len(urls)
    settings.setdefault("health_interval_s", 0.5)
    return BalancerConfig(instances=[InstanceConfig(url, weight) for url, weight in zip(urls, weights)], **settings)


def waveform(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """Quiet noise: any audio long enough for the fbank model will do for routing tests."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)) * 0.1).astype(np.float32)


def requests_by_url(pool) -> dict[str, int]:
    return {state["url"]: state["requests"] for state in pool.states()}
