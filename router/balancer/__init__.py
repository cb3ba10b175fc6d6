"""Balancing inference over several Triton instances: strategies, health checks, ejection and retries."""
from __future__ import annotations

from router.balancer.config import BalancerConfig, InstanceConfig
from router.balancer.errors import (BalancerConfigError, BalancerError, InferenceFailed, InferenceRejected,
                                    NoHealthyInstance, PoolOverloaded)
from router.balancer.pool import TritonPool
from router.balancer.strategies import STRATEGIES

__all__ = ["BalancerConfig", "InstanceConfig", "BalancerConfigError", "BalancerError", "InferenceFailed",
           "InferenceRejected", "NoHealthyInstance", "PoolOverloaded", "TritonPool", "STRATEGIES"]
