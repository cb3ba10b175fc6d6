"""An adaptive concurrency limit: as many requests in flight as the backends serve without queueing them up.

A static bound is right for one machine only. This one learns it (the idea of TCP Vegas and Netflix's
concurrency-limits). The baseline is what a request costs when it has the service to itself: the median latency of
recent requests that finished with no other request in flight. A latency above `tolerance` times the baseline means
requests are queueing, so the limit shrinks (multiplicatively, at most once per such latency); while latencies stay
within it and the limit is what holds requests back, it grows by about one per limit's worth of requests.
Latencies are normalised to a 3 s clip, since inference time grows with the audio's length.

Under sustained overload no request finishes alone, so the baseline keeps its last uncontended value instead of
drifting up with the queue.
"""
from __future__ import annotations

import statistics
import time
from collections import deque

REFERENCE_SECONDS = 3.0
BASELINE_SAMPLES = 50
MIN_BASELINE_SAMPLES = 5


class AdaptiveLimit:
    def __init__(self, initial: float, minimum: float, maximum: float, tolerance: float = 2.0,
                 backoff: float = 0.9):
        self.minimum, self.maximum = minimum, maximum
        self.tolerance, self.backoff = tolerance, backoff
        self.value = min(max(initial, minimum), maximum)
        self._alone: deque[float] = deque(maxlen=BASELINE_SAMPLES)
        self._fastest = float("inf")
        self._last_cut = float("-inf")

    @property
    def current(self) -> int:
        return int(self.value)

    @property
    def baseline_s(self) -> float:
        """The cost of a request with no queue: the median of recent lone ones (the fastest seen until enough)."""
        if len(self._alone) >= MIN_BASELINE_SAMPLES:
            return statistics.median(self._alone)
        return self._fastest

    def observe(self, latency_s: float, audio_s: float, in_flight: int, now: float | None = None) -> None:
        """One finished request: its latency (queueing included), its audio length, and the requests in flight
        as it finishes (itself included)."""
        now = time.monotonic() if now is None else now
        sample = latency_s * REFERENCE_SECONDS / max(audio_s, REFERENCE_SECONDS)
        if in_flight <= 1:
            self._alone.append(sample)
        self._fastest = min(self._fastest, sample)
        if sample > self.tolerance * self.baseline_s:
            if now - self._last_cut >= sample:  # once per round trip: a burst of late answers is one signal
                self.value = max(self.minimum, self.value * self.backoff)
                self._last_cut = now
        elif in_flight >= self.current:  # the limit is what holds requests back: probe for more room
            self.value = min(self.maximum, self.value + 1.0 / self.value)
