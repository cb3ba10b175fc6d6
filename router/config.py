"""The router's typed configuration, in one place: YAML/JSON file, then `VOIMID_*` env overrides, then validation.

Every section is a dataclass built by the one mechanism of `settings` (coercion from type hints, unknown keys
refused, the section's own validate()). Every key has an environment name derived from it, VOIMID_<SECTION>_<KEY>
(VOIMID_TRITON_STRATEGY sets triton.strategy); ENV_ALIASES keeps the shorter names the product documented. An
unknown VOIMID_* name is an error naming the closest key. Every bad value is a start-up `ConfigError` whose message
begins with the dotted key, e.g. "api.port: must be an integer 1-65535". The `storage` and `triton` (alias
`balancer`) sections are validated by their own packages and re-raised as `ConfigError`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import settings
from router.balancer.config import BalancerConfig
from router.balancer.errors import BalancerConfigError
from router.errors import ConfigError
from router.recordings.config import RecordingsConfig
from store.config import StorageConfig
from store.errors import StoreConfigError
from store.validation import MAX_NAME_CHARS

ENVIRONMENTS = ("development", "test", "staging", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
RATE_LIMIT_BACKENDS = ("auto", "memory", "redis")
REDIS_CLIENT_KEYS = ("username", "tls", "tls_ca_file", "tls_cert_file", "tls_key_file", "sentinels",
                     "sentinel_master", "sentinel_password")

# Shorter names the product has documented; every key also has its derived VOIMID_<SECTION>_<KEY> name.
ENV_ALIASES = {
    "VOIMID_MAX_UPLOAD_MB": "api.max_upload_mb",
    "VOIMID_API_KEYS_FILE": "auth.keys_file",
    "VOIMID_API_KEYS": "auth.env_keys",
    "VOIMID_RATE_LIMIT_PER_S": "rate_limit.rate_per_s",
    "VOIMID_DB_HOST": "storage.db_host",
    "VOIMID_DB_PORT": "storage.db_port",
    "VOIMID_DB_NAME": "storage.db_name",
    "VOIMID_DB_USER": "storage.db_user",
    "VOIMID_DB_PASSWORD": "storage.db_password",
    "VOIMID_TRITON_URLS": "triton.instances",
    "VOIMID_LOG_LEVEL": "logging.level",
}


@dataclass
class ApiConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    max_upload_mb: float = 10.0
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    # RMS below this (full scale = 1.0) is "silent": nothing to recognise a speaker from.
    silence_rms: float = 1e-4
    max_field_kb: int = 64
    # A user's name (at most the store's 256) and how deeply its metadata JSON may nest (objects and arrays).
    max_name_chars: int = 200
    max_metadata_depth: int = 16
    decode_workers: int = 2
    # How long a register/enroll reply is kept for retries carrying the same Idempotency-Key.
    idempotency_ttl_s: float = 86400.0

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, "api.port", "must be an integer 1-65535")
        _check(0 < self.max_upload_mb <= 1024, "api.max_upload_mb", "must be in (0, 1024]")
        _check(self.min_seconds > 0, "api.min_seconds", "must be > 0")
        _check(self.max_seconds > self.min_seconds, "api.max_seconds", "must be > api.min_seconds")
        _check(self.max_seconds <= 600, "api.max_seconds", "must be <= 600")
        _check(0 <= self.silence_rms < 1, "api.silence_rms", "must be in [0, 1)")
        _check(1 <= self.max_field_kb <= 1024, "api.max_field_kb", "must be 1-1024")
        _check(1 <= self.max_name_chars <= MAX_NAME_CHARS, "api.max_name_chars", f"must be 1-{MAX_NAME_CHARS}")
        _check(1 <= self.max_metadata_depth <= 64, "api.max_metadata_depth", "must be 1-64")
        _check(1 <= self.decode_workers <= 64, "api.decode_workers", "must be 1-64")
        _check(1 <= self.idempotency_ttl_s <= 30 * 86400, "api.idempotency_ttl_s", "must be 1 s to 30 days")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@dataclass
class OverloadConfig:
    """Admission control: refuse early and cheaply instead of queueing until everything times out.

    Past the limit, requests get 503 `overloaded` with Retry-After at once. With `adaptive: false`, size
    max_requests by Little's law: the saturation rate (req/s, `python -m loadtest.bench_overload`) times the latency
    you accept for admitted requests (s).
    """
    # Requests needing inference (register, enroll, verify, identify) being handled at once, uploads included;
    # each may hold up to api.max_upload_mb of body. A hard cap: the adaptive limit moves below it.
    max_requests: int = 64
    # Learn the limit from latency (router.concurrency): admitted requests wait at most about `latency_tolerance`
    # times what a request costs with no queue. Off: max_requests is the limit.
    adaptive: bool = True
    latency_tolerance: float = 3.0
    min_requests: int = 8
    # Decodes waiting for one of api.decode_workers threads.
    max_decode_queue: int = 8
    retry_after_s: int = 1
    # A client must finish sending its body within this (a slow upload is cut off with 408).
    body_timeout_s: float = 10.0
    # From a complete body to the reply: decode, inference (Triton calls get what is left) and storage.
    deadline_s: float = 10.0

    def validate(self) -> None:
        _check(1 <= self.max_requests <= 100_000, "overload.max_requests", "must be 1-100000")
        _check(1 <= self.min_requests <= self.max_requests, "overload.min_requests", "must be 1..max_requests")
        _check(1.0 < self.latency_tolerance <= 100, "overload.latency_tolerance", "must be in (1, 100]")
        _check(0 <= self.max_decode_queue <= 100_000, "overload.max_decode_queue", "must be 0-100000")
        _check(1 <= self.retry_after_s <= 3600, "overload.retry_after_s", "must be 1-3600")
        _check(0 < self.body_timeout_s <= 3600, "overload.body_timeout_s", "must be in (0, 3600]")
        _check(0 < self.deadline_s <= 3600, "overload.deadline_s", "must be in (0, 3600]")


@dataclass
class AuthConfig:
    enabled: bool = True
    keys_file: str | None = None
    # Inline key-file lines ("<key_id> <scopes> sha256:<hex>"), for configs that carry hashes.
    keys: list[str] = field(default_factory=list)
    # Plain keys from the environment ("<scope>[|scope]:<key>", comma separated); hashed at load.
    env_keys: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.enabled and not (self.keys_file or self.keys or self.env_keys):
            raise ConfigError("auth.keys_file: auth is enabled but no keys are configured "
                              "(set auth.keys_file, auth.keys or VOIMID_API_KEYS, or auth.enabled: false)")


@dataclass
class RateLimitConfig:
    enabled: bool = True
    rate_per_s: float = 20.0
    burst: int = 40
    backend: str = "auto"  # auto: redis when storage is redis, else in-process

    def validate(self) -> None:
        _check(self.rate_per_s > 0, "rate_limit.rate_per_s", "must be > 0")
        _check(self.burst >= 1, "rate_limit.burst", "must be >= 1")
        _check(self.backend in RATE_LIMIT_BACKENDS, "rate_limit.backend",
               f"must be one of {', '.join(RATE_LIMIT_BACKENDS)}")


@dataclass
class RedisConfig:
    url: str | None = None
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    password: str | None = None
    timeout_s: float = 2.0
    # Passed to store.redis_client (one client factory for the store and the rate limiter).
    username: str | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    sentinels: list[str] = field(default_factory=list)
    sentinel_master: str | None = None
    sentinel_password: str | None = None

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, "redis.port", "must be an integer 1-65535")
        _check(self.db >= 0, "redis.db", "must be >= 0")
        _check(self.timeout_s > 0, "redis.timeout_s", "must be > 0")


@dataclass
class VerifyConfig:
    # Cosine threshold of a decision. null: the served model's recommended threshold (calibrated at export; the
    # CAM++ model card's 0.39 when the model records none). Tune it on your own trials (`vomid score`).
    threshold: float | None = None
    # A client may ask for a stricter threshold, never a laxer one than this (null: the threshold itself), so a
    # leaked verify key cannot lower the bar to 0 and learn who is enrolled.
    min_threshold: float | None = None
    default_top_k: int = 5
    max_top_k: int = 100
    # Decimals of every score a client sees: enough to act on, too coarse to hill-climb on.
    score_decimals: int = 2

    def validate(self) -> None:
        _check(self.threshold is None or 0 <= self.threshold <= 1, "verify.threshold",
               "must be a number in [0, 1] (or null: the model's)")
        _check(self.min_threshold is None or 0 <= self.min_threshold <= (1 if self.threshold is None
                                                                          else self.threshold),
               "verify.min_threshold", "must be a number in [0, verify.threshold] (or null)")
        _check(1 <= self.max_top_k <= 1000, "verify.max_top_k", "must be 1-1000")
        _check(1 <= self.default_top_k <= self.max_top_k, "verify.default_top_k", "must be 1..verify.max_top_k")
        _check(0 <= self.score_decimals <= 6, "verify.score_decimals", "must be 0-6")


@dataclass
class LoggingConfig:
    level: str = "INFO"
    json: bool = True

    def validate(self) -> None:
        self.level = self.level.upper()
        _check(self.level in LOG_LEVELS, "logging.level", f"must be one of {', '.join(LOG_LEVELS)}")


@dataclass
class AuditConfig:
    enabled: bool = True
    path: str | None = None  # None: the "vomid.audit" logger's own handlers (stderr by default)
    retention_days: int = 90  # daily files kept (rotated at midnight UTC); 0 keeps every file

    def validate(self) -> None:
        _check(self.retention_days >= 0, "audit.retention_days", "must be >= 0 (0: keep every file)")


@dataclass
class RouterConfig:
    environment: str = "development"
    api: ApiConfig = field(default_factory=ApiConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    overload: OverloadConfig = field(default_factory=OverloadConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    triton: BalancerConfig = field(default_factory=BalancerConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)

    @property
    def rate_limit_uses_redis(self) -> bool:
        if self.rate_limit.backend == "auto":
            return self.storage.type == "redis"
        return self.rate_limit.backend == "redis"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> "RouterConfig":
        raw = dict(raw or {})
        if "balancer" in raw:  # accepted alias of the triton section
            if "triton" in raw:
                raise ConfigError("balancer: give either triton or its alias balancer, not both")
            raw["triton"] = raw.pop("balancer")
        settings.reject_unknown(raw, {f.name for f in dataclasses.fields(cls)}, "", ConfigError)
        environment = settings.coerce("environment", raw.get("environment", "development"), str, ConfigError)
        _check(environment in ENVIRONMENTS, "environment", f"must be one of {', '.join(ENVIRONMENTS)}")
        sections = {name: settings.build(kind, raw.get(name), f"{name}.", ConfigError)
                    for name, kind in SECTIONS.items()}
        storage = _storage(settings.mapping("storage", raw.get("storage") or {}, ConfigError), sections["redis"])
        triton = _triton(settings.mapping("triton", raw.get("triton") or {}, ConfigError))
        return cls(environment=environment, storage=storage, triton=triton, **sections)


SECTIONS = {"api": ApiConfig, "auth": AuthConfig, "rate_limit": RateLimitConfig, "overload": OverloadConfig,
            "redis": RedisConfig, "verify": VerifyConfig, "logging": LoggingConfig, "audit": AuditConfig,
            "recordings": RecordingsConfig}
ENV_KEYS = {**settings.derived_names(RouterConfig, {**SECTIONS, "storage": StorageConfig,
                                                    "triton": BalancerConfig}), **ENV_ALIASES}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> RouterConfig:
    """Reads a YAML (or JSON) file if given, applies `VOIMID_*` overrides from `env` (default os.environ)."""
    raw = settings.read_file(path, ConfigError) if path is not None else {}
    apply_env(raw, os.environ if env is None else env)
    return RouterConfig.from_dict(raw)


def apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    settings.apply_variables(raw, env, ENV_KEYS, ConfigError, lists=frozenset({"triton.instances"}),
                             section_aliases={"triton": "balancer"})


def _storage(raw: dict[str, Any], redis: RedisConfig) -> StorageConfig:
    raw = dict(raw)
    if raw.get("type", StorageConfig.type) == "redis":
        # One Redis for the whole router unless the storage section names its own.
        inherited = {"redis_url": redis.url, "redis_host": redis.host, "redis_port": redis.port,
                     "redis_db": redis.db, "redis_password": redis.password, "redis_timeout_s": redis.timeout_s,
                     **{f"redis_{k}": getattr(redis, k) for k in REDIS_CLIENT_KEYS}}
        for key, value in inherited.items():
            raw.setdefault(key, value)
    try:
        return StorageConfig.from_dict(raw)
    except StoreConfigError as exc:
        raise ConfigError(str(exc)) from None


def _triton(raw: dict[str, Any]) -> BalancerConfig:
    try:
        return BalancerConfig.from_dict(raw, section="triton")
    except BalancerConfigError as exc:
        raise ConfigError(str(exc)) from None


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {why}")
