"""Least connections: fewest requests in flight per unit of weight; ties rotate (as nginx's least_conn)."""
from __future__ import annotations

from typing import Sequence

from router.balancer.strategies.base import C, Candidate, Rotation


class LeastConnections:
    def __init__(self) -> None:
        self._rotation = Rotation()

    def pick(self, instances: Sequence[C]) -> C:
        # Compare in_flight/weight without floats: a/wa < b/wb  <=>  a*wb < b*wa.
        best = min(instances, key=lambda i: i.in_flight / i.weight)
        tied = [i for i in instances if i.in_flight * best.weight == best.in_flight * i.weight]
        return self._rotation.choose(tied)

    def record(self, instance: Candidate, ok: bool, latency_s: float) -> None:
        pass
