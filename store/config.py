"""Typed settings of the voiceprint store (the router's `storage:` section), validated in one place."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import settings

from .errors import StoreConfigError

BACKEND_TYPES = ("memory", "file", "redis", "postgres")
# When a Redis write is acknowledged: applied in Redis's memory; fsync'd to its AOF (needs the server's
# `appendonly yes` + `appendfsync always`, checked at start); copied to redis_wait_replicas replicas (WAIT);
# or both.
REDIS_DURABILITY = ("applied", "fsync", "replica", "fsync+replica")
SCORE_POLICIES = ("centroid", "max")


@dataclass
class StorageConfig:
    type: str = "file"
    path: str = "./var/store"
    # Redis: redis_url wins over host/port/db/password when set.
    redis_url: str | None = None
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_db: int = 0
    redis_password: str | None = None
    redis_username: str | None = None        # an ACL user (requirepass alone: password only)
    redis_tls: bool = False                  # also implied by a rediss:// URL
    redis_tls_ca_file: str | None = None
    redis_tls_cert_file: str | None = None
    redis_tls_key_file: str | None = None
    # Sentinel ("host:port" each) and the master's name: clients follow a failover by themselves.
    redis_sentinels: list[str] = field(default_factory=list)
    redis_sentinel_master: str | None = None
    redis_sentinel_password: str | None = None
    redis_durability: str = "applied"
    redis_wait_replicas: int = 1
    redis_wait_timeout_ms: int = 1000
    redis_prefix: str = "vomid"
    # PostgreSQL (type postgres; the router maps VOIMID_DB_HOST/_PORT/_NAME/_USER/_PASSWORD here);
    # db_dsn wins over the separate settings. Tables are <db_table_prefix>_users/_meta/_events.
    db_dsn: str | None = None
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "vomid"
    db_user: str = "vomid"
    db_password: str | None = None
    db_table_prefix: str = "vomid"
    db_timeout_s: float = 5.0
    db_pool_size: int = 10
    redis_timeout_s: float = 2.0
    redis_stream_maxlen: int = 100_000
    # None: learned from the first enrollment, then fixed (and persisted).
    dim: int | None = None
    score_policy: str = "centroid"
    max_enrollments: int = 32
    # Exact search reads the whole matrix per query (~20 MB at 10k x 512 floats, ~2 ms);
    # past this many vectors hnswlib is faster at the same answers (recall@1 >= 0.99).
    exact_search_below: int = 10_000
    # From loadtest/bench_store.py at 1M x 512 on CAM++-like score scales: M=16 misses the
    # recall@1 >= 0.99 target at any ef that keeps p99 <= 2 ms; M=32 reaches it.
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef: int = 128
    # Threads for bulk (re)builds of the index; 0 = all cores. Single inserts use one.
    hnsw_build_threads: int = 0
    encryption_key: str | None = None
    encryption_key_file: str | None = None
    # Keys still accepted for reading (after a rotation); never used to write.
    encryption_old_keys: list[str] = field(default_factory=list)
    snapshot_every: int = 10_000
    # Erase voiceprints unused (no enrolment, no verification) for this many days; 0 keeps them forever.
    retention_days: float = 0.0
    retention_sweep_s: float = 3600.0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "StorageConfig":
        """Build from a flat mapping (YAML section or env overrides); unknown keys are errors."""
        return settings.build(cls, dict(d or {}), "storage.", StoreConfigError)

    def validate(self) -> None:
        def bad(key: str, why: str) -> StoreConfigError:
            return StoreConfigError(f"storage.{key}: {why}")

        if self.type not in BACKEND_TYPES:
            raise bad("type", f"must be one of {', '.join(BACKEND_TYPES)}, got {self.type!r}")
        if self.score_policy not in SCORE_POLICIES:
            raise bad("score_policy", f"must be one of {', '.join(SCORE_POLICIES)}")
        if self.dim is not None and not 1 <= self.dim <= 65536:
            raise bad("dim", "must be between 1 and 65536 (or null to learn it)")
        for key, low in (("max_enrollments", 1), ("exact_search_below", 0), ("hnsw_m", 2),
                         ("hnsw_ef_construction", 1), ("hnsw_ef", 1), ("hnsw_build_threads", 0),
                         ("snapshot_every", 1), ("redis_stream_maxlen", 100), ("redis_port", 1),
                         ("redis_db", 0), ("db_port", 1)):
            if getattr(self, key) < low:
                raise bad(key, f"must be >= {low}")
        if self.redis_durability not in REDIS_DURABILITY:
            raise bad("redis_durability", f"must be one of {', '.join(REDIS_DURABILITY)}")
        if self.redis_wait_replicas < 1 or self.redis_wait_timeout_ms < 1:
            raise bad("redis_wait_replicas" if self.redis_wait_replicas < 1 else "redis_wait_timeout_ms",
                      "must be >= 1")
        if self.type == "redis":
            from .redis_client import RedisSettings  # (imports redis-py: only when it is used)
            RedisSettings.from_storage(self).check()
        if self.retention_days < 0:
            raise bad("retention_days", "must be >= 0 (0: keep voiceprints until deleted)")
        if self.retention_sweep_s <= 0:
            raise bad("retention_sweep_s", "must be > 0")
        if self.redis_timeout_s <= 0:
            raise bad("redis_timeout_s", "must be > 0")
        if not self.redis_prefix or any(c in self.redis_prefix for c in " {}"):
            raise bad("redis_prefix", "must be non-empty, without spaces or braces")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,39}", self.db_table_prefix):
            raise bad("db_table_prefix", "must be 1-40 characters of a-z 0-9 _ (not starting with a digit)")
        if self.db_timeout_s <= 0 or not 1 <= self.db_pool_size <= 100:
            raise bad("db_timeout_s" if self.db_timeout_s <= 0 else "db_pool_size", "must be > 0 (pool: 1-100)")
        if self.type == "file" and not self.path:
            raise bad("path", "required for the file backend")
