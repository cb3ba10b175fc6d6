"""Smooth weighted round robin (nginx): weights 3:1 give A A B A, not A A A B, so no instance gets a burst.

Each pick adds every candidate's weight to its running score, takes the highest, and subtracts the total from it.
Candidates missing from a pick (ejected, already tried) keep their score untouched, as nginx skips down peers.
"""
from __future__ import annotations

from typing import Sequence

from router.balancer.strategies.base import C, Candidate


class WeightedRoundRobin:
    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def pick(self, instances: Sequence[C]) -> C:
        total = 0
        best = None
        for instance in instances:
            score = self._current.get(instance.url, 0) + instance.weight
            self._current[instance.url] = score
            total += instance.weight
            if best is None or score > self._current[best.url]:
                best = instance
        assert best is not None, "pick() needs at least one candidate"
        self._current[best.url] -= total
        return best

    def record(self, instance: Candidate, ok: bool, latency_s: float) -> None:
        pass
