"""One Triton instance as the pool sees it: its gRPC client, health, admission and request counters.

Two signals decide whether an instance takes traffic: `healthy` (the active check: server and model ready) and
`ejected_until` (passive: set by the pool after N consecutive faults, cleared by the first passing check once it is
due). A fault is a failure the instance is to blame for; a timeout or refusal from an instance that still answered
other calls within the busy window is overload, which never counts toward ejection.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import tritonclient.grpc.aio as grpcaio
from tritonclient.grpc import KeepAliveOptions
from tritonclient.grpc._client import MAX_GRPC_MESSAGE_SIZE

LATENCY_ALPHA = 0.2  # weight of the newest sample in the reported latency average


def channel_args(max_reconnect_backoff_s: float) -> list[tuple[str, int]]:
    """tritonclient's default channel options, plus a short reconnect backoff.

    gRPC backs off up to 120 s between reconnects to a dead address; without a cap, a restarted server would stay
    unreachable (every call failing fast) long after it is back.
    """
    keepalive = KeepAliveOptions()
    backoff_ms = max(100, int(max_reconnect_backoff_s * 1000))
    return [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.initial_reconnect_backoff_ms", min(100, backoff_ms)),
        ("grpc.min_reconnect_backoff_ms", min(100, backoff_ms)),
        ("grpc.max_reconnect_backoff_ms", backoff_ms),
    ]


@dataclass(eq=False)
class Instance:
    url: str
    weight: int = 1
    healthy: bool = False  # unknown until the first check passes
    in_flight: int = 0
    consecutive_failures: int = 0
    ejected_until: float | None = None  # time.monotonic() deadline; None when admitted
    requests: int = 0
    failures: int = 0
    latency_ewma_s: float | None = None
    last_answer: float | None = None  # time.monotonic() of the last call the server answered (success or refusal)
    client: grpcaio.InferenceServerClient | None = field(default=None, repr=False)

    @property
    def ejected(self) -> bool:
        return self.ejected_until is not None

    @property
    def available(self) -> bool:
        return self.healthy and not self.ejected

    def open(self, max_reconnect_backoff_s: float) -> None:
        self.client = grpcaio.InferenceServerClient(self.url, channel_args=channel_args(max_reconnect_backoff_s))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def begin(self) -> None:
        self.in_flight += 1
        self.requests += 1

    def end(self) -> None:
        self.in_flight -= 1

    def succeeded(self, latency_s: float, now: float | None = None) -> None:
        self.answered(now)
        self.latency_ewma_s = (latency_s if self.latency_ewma_s is None
                               else LATENCY_ALPHA * latency_s + (1 - LATENCY_ALPHA) * self.latency_ewma_s)

    def answered(self, now: float | None = None) -> None:
        """The server answered (a result, or a refusal of the input): alive, so the fault streak ends."""
        self.consecutive_failures = 0
        self.last_answer = time.monotonic() if now is None else now

    def busy(self, window_s: float, now: float | None = None) -> bool:
        """Answered within the last `window_s`: a failure now is more likely overload than a dead server."""
        now = time.monotonic() if now is None else now
        return self.last_answer is not None and now - self.last_answer <= window_s

    def failed(self, fault: bool) -> None:
        """Counts a failed call; only faults lengthen the streak that ejection looks at."""
        self.failures += 1
        if fault:
            self.consecutive_failures += 1

    def eject(self, readmit_after_s: float, now: float | None = None) -> None:
        self.ejected_until = (time.monotonic() if now is None else now) + readmit_after_s

    def checked(self, passed: bool, now: float | None = None) -> bool:
        """Applies an active health check; returns True when it re-admits an ejected instance."""
        now = time.monotonic() if now is None else now
        if passed and not self.healthy:
            self.consecutive_failures = 0  # a streak from before the outage says nothing about the new process
        self.healthy = passed
        if passed and self.ejected and now >= self.ejected_until:
            self.ejected_until = None
            self.consecutive_failures = 0
            return True
        return False

    def state(self) -> dict:
        ejected_until = None
        if self.ejected_until is not None:  # report wall-clock time; monotonic time means nothing outside
            ejected_until = time.time() + (self.ejected_until - time.monotonic())
        return {
            "url": self.url,
            "weight": self.weight,
            "healthy": self.healthy,
            "ejected": self.ejected,
            "ejected_until": ejected_until,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "failures": self.failures,
            "latency_ms": None if self.latency_ewma_s is None else round(self.latency_ewma_s * 1000, 3),
        }
