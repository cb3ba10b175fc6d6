"""The one interface every balancing strategy implements, and the instance view strategies may read."""
from __future__ import annotations

from typing import Protocol, Sequence, TypeVar


class Candidate(Protocol):
    """What a strategy may read of an instance (`router.balancer.instance.Instance` or a plain test object)."""

    url: str
    weight: int
    in_flight: int


C = TypeVar("C", bound=Candidate)


class Strategy(Protocol):
    def pick(self, instances: Sequence[C]) -> C:
        """Chooses one of `instances` (never empty: the pool passes only healthy, admitted, untried ones)."""

    def record(self, instance: Candidate, ok: bool, latency_s: float) -> None:
        """Hears how a call to `instance` went; strategies that do not learn ignore it."""


class Rotation:
    """Breaks ties by rotating, so equal candidates share the load instead of the first one taking it all."""

    def __init__(self) -> None:
        self._turn = 0

    def choose(self, tied: Sequence[C]) -> C:
        chosen = tied[self._turn % len(tied)]
        self._turn += 1
        return chosen
