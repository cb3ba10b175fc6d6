"""Round robin: each candidate in turn, weights ignored."""
from __future__ import annotations

from typing import Sequence

from router.balancer.strategies.base import C, Candidate, Rotation


class RoundRobin:
    def __init__(self) -> None:
        self._rotation = Rotation()

    def pick(self, instances: Sequence[C]) -> C:
        return self._rotation.choose(instances)

    def record(self, instance: Candidate, ok: bool, latency_s: float) -> None:
        pass
