"""Prometheus metrics of the store, on a registry the caller gives (the router passes its own).

    create_store(config, registry=app_registry)   # or store.metrics.registry for a private one
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class StoreMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.quarantined = Counter("vomid_store_quarantined_records_total",
                                   "stored records that failed to decrypt or verify and were skipped", registry=r)
        self.reloads = Counter("vomid_store_reloads_total", "full reloads of this replica's view",
                               ["reason"], registry=r)
        self.expired = Counter("vomid_store_expired_users_total",
                               "users erased by retention (unused for longer than storage.retention_days)",
                               registry=r)
