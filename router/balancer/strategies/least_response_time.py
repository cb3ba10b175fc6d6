"""Least response time: EWMA latency x (in_flight + 1) per unit of weight, lowest wins; ties rotate.

Only successful calls feed the average: a refused connection answers fast and would make a dead instance look
like the best one (ejection deals with failures). An instance not measured yet is scored with the best known
latency, so it is tried soon without being flooded.
"""
from __future__ import annotations

from typing import Sequence

from router.balancer.strategies.base import C, Candidate, Rotation

UNMEASURED_LATENCY_S = 1.0  # before any measurement every candidate looks the same: least connections


class LeastResponseTime:
    def __init__(self, alpha: float = 0.3) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self._latency: dict[str, float] = {}
        self._rotation = Rotation()

    def latency_s(self, url: str) -> float | None:
        return self._latency.get(url)

    def pick(self, instances: Sequence[C]) -> C:
        known = [self._latency[i.url] for i in instances if i.url in self._latency]
        default = min(known) if known else UNMEASURED_LATENCY_S
        scores = [self._latency.get(i.url, default) * (i.in_flight + 1) / i.weight for i in instances]
        best = min(scores)
        return self._rotation.choose([i for i, s in zip(instances, scores) if s <= best * (1 + 1e-9)])

    def record(self, instance: Candidate, ok: bool, latency_s: float) -> None:
        if not ok:
            return
        previous = self._latency.get(instance.url)
        self._latency[instance.url] = (latency_s if previous is None
                                       else self.alpha * latency_s + (1 - self.alpha) * previous)
