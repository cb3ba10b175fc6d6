"""Balances embedding requests over several Triton instances: pick, retry elsewhere, eject, health-check.

The pool owns one asyncio gRPC client per instance. A request goes to the instance the strategy picks among the
healthy, admitted ones and is retried on another one while its deadline allows (inference is idempotent). A
rejected input is answered at once: the model would refuse it anywhere.

Ejection cannot cause an outage: only faults count toward it (a timeout or refusal from an instance that still
answers is overload), at most `max_ejection_percent` of the instances are out at once, and when too few healthy
instances are admitted (`panic_threshold`) the pool balances over all healthy ones, as Envoy's panic mode does.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np
import tritonclient.grpc.aio as grpcaio
from prometheus_client import CollectorRegistry
from tritonclient.utils import InferenceServerException

from engine.model_info import ModelInfo
from router.balancer.config import BalancerConfig
from router.balancer.errors import InferenceFailed, InferenceRejected, NoHealthyInstance, PoolOverloaded
from router.balancer.instance import Instance
from router.balancer.metrics import BalancerMetrics
from router.balancer.outcome import Outcome, classify
from router.balancer.strategies import STRATEGIES, Strategy

log = logging.getLogger(__name__)


class _AttemptFailed(Exception):
    """An attempt failed for a reason that is not the input's (a fault, or a busy instance): try another one."""

    def __init__(self, message: str, fault: bool):
        super().__init__(message)
        self.fault = fault


# Loading a python-backend model starts its stub interpreter: ~1.6 s here, more on a busy host.
LOAD_TIMEOUT_S = 60.0


class TritonPool:
    def __init__(self, config: BalancerConfig, registry: CollectorRegistry | None = None,
                 strategy: Strategy | None = None):
        self.config = config
        self.instances = [Instance(url=c.url, weight=c.weight) for c in config.instances]
        self.strategy: Strategy = strategy or STRATEGIES[config.strategy]()
        self._metrics = BalancerMetrics(registry)
        self._model_info: ModelInfo | None = None
        self._health_task: asyncio.Task | None = None
        self._loading = asyncio.Lock()

    async def start(self) -> None:
        """Opens the clients, checks every instance once, then keeps checking in the background."""
        for instance in self.instances:
            instance.open(max_reconnect_backoff_s=self.config.health_interval_s)
        await self.check_health()
        self._health_task = asyncio.create_task(self._health_loop(), name="triton-pool-health")

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        await asyncio.gather(*(instance.close() for instance in self.instances))

    async def __aenter__(self) -> "TritonPool":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def ready(self) -> bool:
        return any(instance.available for instance in self.instances)

    def states(self) -> list[dict]:
        return [instance.state() for instance in self.instances]

    def model_info(self) -> dict:
        """The served model's id, name, embedding size, recommended threshold, random_weights and source, read
        from the first ready instance. Empty until an instance has been ready: the router may start before Triton.
        """
        return self._model_info.public() if self._model_info is not None else {}

    def candidates(self, tried: list[Instance]) -> list[Instance]:
        admitted = [i for i in self.instances if i.available and i not in tried]
        healthy = [i for i in self.instances if i.healthy and i not in tried]
        if len(admitted) < self.config.panic_threshold * len(healthy):
            return healthy  # panic: too few admitted; ejection must not starve the service
        return admitted

    async def embed(self, waveform: np.ndarray, timeout_s: float | None = None) -> np.ndarray:
        """One 16 kHz mono float32 waveform (N,) -> its L2-normalised embedding (D,).

        Each attempt gets at most `triton.timeout_s`; all of them together at most `timeout_s` (the caller's
        deadline; by default every attempt may take its full timeout).
        """
        if waveform.ndim != 1:
            raise ValueError(f"waveform must be 1-D, got shape {waveform.shape}")
        return (await self.embed_batch(waveform.reshape(1, -1), timeout_s))[0]

    async def embed_batch(self, waveforms: np.ndarray, timeout_s: float | None = None) -> np.ndarray:
        """Equal-length waveforms (B, N) -> their embeddings (B, D), in one request to the embedding model."""
        if waveforms.ndim != 2:
            raise ValueError(f"waveforms must be (B, N), got shape {waveforms.shape}")
        batch = np.ascontiguousarray(waveforms, dtype=np.float32)

        def request(info: ModelInfo) -> tuple[str, dict[str, np.ndarray], list[str]]:
            return self.config.model_name, {info.input_name: batch}, [info.output_name]

        outputs = await self._balanced(request, timeout_s)
        return np.array(next(iter(outputs.values())), dtype=np.float32)

    async def infer(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str],
                    timeout_s: float | None = None) -> dict[str, np.ndarray]:
        """Another model of the same repository (e.g. `vad`): FP32 inputs by name -> outputs by name, balanced,
        retried and booked like embeddings."""
        inputs = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}
        return await self._balanced(lambda info: (model, inputs, outputs), timeout_s)

    async def _balanced(self, request, timeout_s: float | None) -> dict[str, np.ndarray]:
        budget = self.config.timeout_s * (self.config.retries + 1) if timeout_s is None else timeout_s
        deadline = time.monotonic() + budget
        tried: list[Instance] = []
        failures: list[_AttemptFailed] = []
        for _ in range(self.config.retries + 1):
            candidates = self.candidates(tried)
            remaining = deadline - time.monotonic()
            if not candidates or remaining <= 0:
                break
            instance = self.strategy.pick(candidates)
            tried.append(instance)
            try:
                return await self._infer(instance, request, min(self.config.timeout_s, remaining))
            except _AttemptFailed as failure:
                failures.append(failure)
                log.info("inference attempt on %s failed: %s", instance.url, failure)
        if not tried:
            raise NoHealthyInstance(f"no healthy Triton instance among {len(self.instances)}")
        if not any(f.fault for f in failures):
            raise PoolOverloaded(f"{len(tried)} instance(s) busy or out of time")
        raise InferenceFailed(f"inference failed on {len(tried)} instance(s)")

    async def _infer(self, instance: Instance, request, timeout_s: float) -> dict[str, np.ndarray]:
        """One attempt on one instance; `request(model_info)` names the model, its inputs and outputs."""
        instance.begin()
        started = time.perf_counter()
        try:
            model, inputs, outputs = request(self._model_info or await self._load_model_info(instance))
            tensors = []
            for name, value in inputs.items():
                tensor = grpcaio.InferInput(name, list(value.shape), "FP32")
                tensor.set_data_from_numpy(value)
                tensors.append(tensor)
            result = await instance.client.infer(model, tensors,
                                                 outputs=[grpcaio.InferRequestedOutput(o) for o in outputs],
                                                 client_timeout=timeout_s,
                                                 timeout=int(timeout_s * 1_000_000))  # Triton's queue policy
        except InferenceServerException as error:
            raise self._failure(instance, error, time.perf_counter() - started) from None
        finally:
            instance.end()
        latency = time.perf_counter() - started
        instance.succeeded(latency)
        self.strategy.record(instance, True, latency)
        self._metrics.attempt(instance.url, Outcome.OK.value, latency)
        return {name: result.as_numpy(name) for name in outputs}

    def _failure(self, instance: Instance, error: InferenceServerException, latency: float) -> Exception:
        """Books a failed attempt and returns what to raise: a rejection for the caller, or a failure to retry."""
        outcome = classify(error)
        self._metrics.attempt(instance.url, outcome.value, latency)
        if outcome is Outcome.REJECTED:
            instance.answered()
            return InferenceRejected(error.message())
        fault = not (outcome.may_be_overload and instance.busy(self.config.busy_window_s))
        instance.failed(fault)
        self.strategy.record(instance, False, latency)
        if fault and instance.consecutive_failures >= self.config.eject_after_failures and not instance.ejected:
            self._eject(instance, error)
        return _AttemptFailed(f"{outcome.value}: {error.message()}", fault)

    def _eject(self, instance: Instance, error: InferenceServerException) -> None:
        ejected = sum(i.ejected for i in self.instances)
        allowed = max(1, len(self.instances) * self.config.max_ejection_percent // 100)
        if self.config.max_ejection_percent == 0 or ejected >= allowed:
            log.warning("not ejecting %s: %d of %d instances are out already (max_ejection_percent %d)",
                        instance.url, ejected, len(self.instances), self.config.max_ejection_percent)
            return
        instance.eject(self.config.readmit_after_s)
        log.warning("ejecting %s for %.1fs after %d consecutive faults (last: %s)", instance.url,
                    self.config.readmit_after_s, instance.consecutive_failures, error.message())
        self._metrics.ejected(instance.url)
        self._metrics.set_healthy(instance.url, False)

    async def ensure_loaded(self, model: str) -> bool:
        """Loads `model` on every available instance that has not loaded it: a Triton in explicit model-control
        mode (`vomid up`) leaves the models only some requests need (labelling's VAD) unloaded, so they cost no
        memory or start-up time until first used. Elsewhere every model is loaded and this only asks. A failed load
        is logged and left to the inference that follows, which fails as it would have without it. True when the
        model is ready on every available instance."""
        ready = True
        async with self._loading:  # one load per model, not one per concurrent caller (a second load reloads it)
            for instance in (i for i in self.instances if i.available):
                try:
                    if not await instance.client.is_model_ready(model, client_timeout=self.config.timeout_s):
                        log.info("loading %s on %s (first use)", model, instance.url)
                        await instance.client.load_model(model, client_timeout=LOAD_TIMEOUT_S)
                except InferenceServerException as error:
                    log.warning("could not load %s on %s: %s", model, instance.url, error.message())
                    ready = False
        return ready

    async def _load_model_info(self, instance: Instance) -> ModelInfo:
        response = await instance.client.get_model_config(self.config.model_name, as_json=True,
                                                          client_timeout=self.config.timeout_s)
        self._model_info = ModelInfo.from_config(response["config"])
        return self._model_info

    async def check_health(self) -> None:
        """One round of active checks over every instance (the background task calls it each interval)."""
        await asyncio.gather(*(self._check(instance) for instance in self.instances))
        if self._model_info is None:
            for instance in (i for i in self.instances if i.available):
                with contextlib.suppress(InferenceServerException):
                    await self._load_model_info(instance)
                    break

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)  # the check period, not a wait for readiness
            try:
                await self.check_health()
            except Exception:  # a bug in one round must not stop every later one; it is logged in full
                log.exception("Triton health check round failed")

    async def _check(self, instance: Instance) -> None:
        # A check must not outlive its period, or rounds pile up behind a hung instance.
        timeout = min(self.config.timeout_s, max(self.config.health_interval_s, 0.5))
        try:
            passed = (await instance.client.is_server_ready(client_timeout=timeout)
                      and await instance.client.is_model_ready(self.config.model_name, client_timeout=timeout))
        except InferenceServerException:
            passed = False
        was_healthy = instance.healthy
        if instance.checked(passed):
            log.info("re-admitting %s: health check passed after ejection", instance.url)
        elif was_healthy != passed:
            log.log(logging.INFO if passed else logging.WARNING, "%s is %s", instance.url,
                    "healthy" if passed else "unhealthy")
        self._metrics.set_healthy(instance.url, instance.available)
