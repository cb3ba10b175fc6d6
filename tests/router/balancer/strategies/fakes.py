"""Plain stand-ins for pool instances: strategies read only url, weight and in_flight."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(eq=False)
class Fake:
    url: str
    weight: int = 1
    in_flight: int = 0


def fakes(*weights: int) -> list[Fake]:
    return [Fake(f"host{i}:8001", w) for i, w in enumerate(weights)]


def picks(strategy, instances, n: int) -> Counter:
    return Counter(strategy.pick(instances).url for _ in range(n))
