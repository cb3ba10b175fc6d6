"""TEMPORARY single-instance stand-in for `router.balancer` (being written in parallel), same contract.

Replaced by `router.balancer.{config,pool,errors}` as soon as that package lands; nothing else may grow here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException


class NoHealthyInstance(Exception):
    """No Triton instance can take the request (maps to 503)."""


class InferenceRejected(Exception):
    """The model refused the input, e.g. audio too short for the fbank model (maps to 422)."""


@dataclass
class BalancerConfig:
    instances: list[dict] = field(default_factory=lambda: [{"url": "127.0.0.1:8001", "weight": 1}])
    strategy: str = "least_in_flight"
    health_interval_s: float = 2.0
    eject_after_failures: int = 3
    readmit_after_s: float = 10.0
    retries: int = 1
    timeout_s: float = 10.0
    model_name: str = "speaker"

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "BalancerConfig":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"balancer.{sorted(unknown)[0]}: unknown setting")
        cfg = cls(**d)
        if not cfg.instances:
            raise ValueError("balancer.instances: at least one Triton instance is required")
        return cfg


class TritonPool:
    def __init__(self, config: BalancerConfig, registry=None):
        self.config = config
        self.url = config.instances[0]["url"]
        self._client: grpcclient.InferenceServerClient | None = None
        self._info: dict = {}
        self._requests = self._failures = self._in_flight = 0
        self._latency_ms = 0.0

    async def start(self) -> None:
        self._client = grpcclient.InferenceServerClient(self.url)
        try:
            cfg = await self._client.get_model_config(self.config.model_name, as_json=True)
            params = {k: v["string_value"] for k, v in cfg["config"].get("parameters", {}).items()}
            self._info = {"embedding_dim": int(params.get("embedding_dim", 0)) or None,
                          "random_weights": params.get("random_weights") == "true", "source": params.get("source")}
        except InferenceServerException:
            self._info = {}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def embed(self, waveform: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(waveform, dtype=np.float32).reshape(1, -1)
        inputs = [grpcclient.InferInput("waveform", list(batch.shape), "FP32")]
        inputs[0].set_data_from_numpy(batch)
        self._requests += 1
        self._in_flight += 1
        started = time.perf_counter()
        try:
            result = await self._client.infer(self.config.model_name, inputs,
                                              outputs=[grpcclient.InferRequestedOutput("embedding")],
                                              client_timeout=self.config.timeout_s)
        except InferenceServerException as exc:
            self._failures += 1
            if "INTERNAL" in str(exc.status()) or "INVALID_ARG" in str(exc.status()):
                raise InferenceRejected(exc.message()) from None
            raise NoHealthyInstance(f"{self.url}: {exc.message()}") from None
        finally:
            self._in_flight -= 1
        self._latency_ms = (time.perf_counter() - started) * 1000
        return result.as_numpy("embedding")[0]

    def states(self) -> list[dict]:
        return [{"url": self.url, "healthy": True, "in_flight": self._in_flight, "ejected_until": None,
                 "requests": self._requests, "failures": self._failures, "latency_ms": self._latency_ms}]

    def model_info(self) -> dict:
        return dict(self._info)
