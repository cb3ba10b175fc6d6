"""Balancing strategies, one class each behind `Strategy`; `STRATEGIES` maps config names to classes."""
from __future__ import annotations

from router.balancer.strategies.base import Candidate, Strategy
from router.balancer.strategies.least_connections import LeastConnections
from router.balancer.strategies.least_response_time import LeastResponseTime
from router.balancer.strategies.random_choice import RandomChoice
from router.balancer.strategies.round_robin import RoundRobin
from router.balancer.strategies.weighted_round_robin import WeightedRoundRobin

STRATEGIES: dict[str, type[Strategy]] = {
    "round_robin": RoundRobin,
    "random": RandomChoice,
    "least_connections": LeastConnections,
    "weighted_round_robin": WeightedRoundRobin,
    "least_response_time": LeastResponseTime,
}

__all__ = ["STRATEGIES", "Candidate", "Strategy", "LeastConnections", "LeastResponseTime", "RandomChoice",
           "RoundRobin", "WeightedRoundRobin"]
