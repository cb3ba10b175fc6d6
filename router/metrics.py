"""Prometheus metrics of one app (its own CollectorRegistry: no global state), named vomid_<thing>_<unit>.

Labels are bounded: route is the matched route template (or "unmatched"), never a raw path.
"""
from __future__ import annotations

from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("vomid_http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=r)
        self.latency = Histogram("vomid_http_request_duration_seconds", "HTTP request latency", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.decode = Histogram("vomid_audio_decode_duration_seconds", "audio decode + resample time (running)",
                                buckets=LATENCY_BUCKETS, registry=r)
        self.decode_wait = Histogram("vomid_audio_decode_wait_seconds", "time a body waited for a decoder thread",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.audio_seconds = Histogram("vomid_audio_duration_seconds", "decoded audio length",
                                       buckets=(1, 2, 3, 5, 8, 12, 20, 30, 60), registry=r)
        self.inference = Histogram("vomid_inference_duration_seconds", "embedding time through the Triton pool",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("vomid_errors_total", "error responses by code", ["code"], registry=r)
        self.decisions = Counter("vomid_verify_decisions_total", "verification outcomes", ["mode", "result"],
                                 registry=r)
        self.shed = Counter("vomid_shed_total", "requests refused by admission control, by reason "
                            "(requests, decode_queue, body_timeout, deadline)", ["reason"], registry=r)
        self.in_flight = Gauge("vomid_requests_in_flight", "requests needing inference being handled now",
                               registry=r)
        self.concurrency_limit = Gauge("vomid_concurrency_limit", "requests needing inference admitted at once "
                                       "(the adaptive limit)", registry=r)
        self.rate_limited = Counter("vomid_rate_limited_total", "requests refused by the rate limiter", registry=r)
        self.store_users = Gauge("vomid_store_users", "enrolled users in the voiceprint store (read at scrape)",
                                 registry=r)
        # The alerting signal for the store and Redis: measured at scrape time, so it is there without traffic.
        self.backend_up = Gauge("vomid_backend_up", "1 when the backend answers its health check (at scrape)",
                                ["backend"], registry=r)
        # Recent latencies per route, for the human-readable /api/v1/stats (bounded memory).
        self.recent: dict[str, deque[float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        self.recent.setdefault(route, deque(maxlen=1000)).append(seconds)

    def summary(self) -> dict:
        routes = {}
        for route, values in self.recent.items():
            ordered = sorted(values)
            routes[route] = {"recent": len(ordered),
                             "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
                             "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2)}
        totals: dict[str, int] = {}
        for metric in self.requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    route = sample.labels["route"]
                    totals[route] = totals.get(route, 0) + int(sample.value)
        return {"total": sum(totals.values()), "by_route": totals, "latency": routes}
