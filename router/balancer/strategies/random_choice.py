"""Random: picks with probability proportional to weight (uniform when all weights are 1)."""
from __future__ import annotations

import random
from typing import Sequence

from router.balancer.strategies.base import C, Candidate


class RandomChoice:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def pick(self, instances: Sequence[C]) -> C:
        return self._rng.choices(instances, weights=[i.weight for i in instances])[0]

    def record(self, instance: Candidate, ok: bool, latency_s: float) -> None:
        pass
