"""Prometheus metrics of the pool; without a registry they go to a private one nobody scrapes."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BalancerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        # A private registry keeps the call sites free of "if metrics enabled" branches.
        registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.requests = Counter("vomid_triton_requests", "Inference attempts per Triton instance, by outcome",
                                ["instance", "outcome"], registry=registry)
        self.latency = Histogram("vomid_triton_request_seconds", "Inference attempt latency per Triton instance",
                                 ["instance"], buckets=LATENCY_BUCKETS, registry=registry)
        self.healthy = Gauge("vomid_triton_instance_healthy",
                             "1 when the instance passes health checks and is not ejected", ["instance"],
                             registry=registry)
        self.ejections = Counter("vomid_triton_ejections", "Passive ejections after consecutive failures",
                                 ["instance"], registry=registry)

    def attempt(self, instance: str, outcome: str, latency_s: float) -> None:
        self.requests.labels(instance=instance, outcome=outcome).inc()
        self.latency.labels(instance=instance).observe(latency_s)

    def set_healthy(self, instance: str, available: bool) -> None:
        self.healthy.labels(instance=instance).set(1 if available else 0)
        self.ejections.labels(instance=instance)  # a zero series from the first check on, not only after a failure

    def ejected(self, instance: str) -> None:
        self.ejections.labels(instance=instance).inc()
