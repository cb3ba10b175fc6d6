"""Admission control: bounded requests in flight and a bounded decode queue, refused early and cheaply.

In the spirit of text-embeddings-inference's `max_concurrent_requests` and Envoy's circuit breakers: a request that
needs inference takes a slot before its body is read; when none is free it gets 503 `overloaded` with Retry-After
at once, so queues never grow until everything times out. Decodes past the queue bound are refused the same way.
Deadlines cut slow uploads (408) and work nobody will wait for (503).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TypeVar

from router.concurrency import AdaptiveLimit
from router.config import OverloadConfig
from router.errors import RequestTimeout, Unavailable
from router.metrics import RouterMetrics

T = TypeVar("T")


class Deadline:
    """A point in monotonic time by which a request must be answered."""

    def __init__(self, seconds: float, retry_after_s: int):
        self.at = time.monotonic() + seconds
        self.retry_after_s = retry_after_s

    def remaining(self) -> float:
        """Seconds left; 503 `deadline_exceeded` when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise Unavailable("the request ran out of time; retry later", retry_after_s=self.retry_after_s,
                              code="deadline_exceeded")
        return left


class Admission:
    def __init__(self, config: OverloadConfig, decode_workers: int, metrics: RouterMetrics):
        self.config = config
        self.metrics = metrics
        self.in_flight = 0
        self.limit = AdaptiveLimit(initial=config.min_requests * 2, minimum=config.min_requests,
                                   maximum=config.max_requests, tolerance=config.latency_tolerance) \
            if config.adaptive else None
        self._decode_slots = decode_workers + config.max_decode_queue
        self._decodes = 0  # running or waiting for a decode thread

    def _refuse(self, reason: str, message: str) -> Unavailable:
        self.metrics.shed.labels(reason).inc()
        return Unavailable(message, retry_after_s=self.config.retry_after_s)

    @property
    def max_in_flight(self) -> int:
        return self.config.max_requests if self.limit is None else self.limit.current

    def observe(self, latency_s: float, audio_s: float) -> None:
        """How long a request's work took (decode and inference, queueing included): feeds the adaptive limit."""
        if self.limit is not None:
            self.limit.observe(latency_s, audio_s, self.in_flight)
            self.metrics.concurrency_limit.set(self.limit.current)

    @contextlib.contextmanager
    def admit(self):
        """One request slot, taken before the body is read; refused at once when all are taken."""
        if self.in_flight >= self.max_in_flight:
            raise self._refuse("requests", "the service is at capacity; retry after the delay in Retry-After")
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    async def read_body(self, read: Awaitable[T]) -> T:
        """Awaits the body read under the upload deadline: 408 for a client that sends too slowly."""
        try:
            return await asyncio.wait_for(read, self.config.body_timeout_s)
        except asyncio.TimeoutError:
            self.metrics.shed.labels("body_timeout").inc()
            raise RequestTimeout(f"the request body was not received within {self.config.body_timeout_s:g}s",
                                 headers={"Connection": "close"}) from None

    def deadline(self) -> Deadline:
        return Deadline(self.config.deadline_s, self.config.retry_after_s)

    async def decode(self, executor: Executor, fn: Callable[..., T], *args) -> T:
        """Runs a decode on the executor, unless the decode queue is full (then 503 at once)."""
        if self._decodes >= self._decode_slots:
            raise self._refuse("decode_queue", "the audio decoders are saturated; retry after the delay in "
                                               "Retry-After")
        self._decodes += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        finally:
            self._decodes -= 1
