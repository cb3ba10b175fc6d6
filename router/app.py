"""The application factory: `create_app(config)` builds every component; cleanup_ctx opens and closes them.

Components are constructed here (cheap, nothing connects) and opened at startup, so the app's state is complete
before it freezes, and tests, main.py and the benchmark all get the same wiring.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from audio import AudioLimits
from router import api, state, system
from router.admission import Admission
from router.auth import KeyRing
from router.config import RouterConfig
from router.errors import ConfigError
from router.idempotency import Idempotency, LocalMemory, RedisMemory
from router.limits import ApiLimits
from router.balancer.pool import TritonPool
from router.logs import AuditLog
from router.metrics import RouterMetrics
from router.middlewares import MIDDLEWARES
from router.ratelimit import LocalRateLimiter, RedisRateLimiter
from router.recordings.setup import add_recordings
from router.service import VoiceprintService
from store import StoreConfigError, create_store
from store.redis_client import RedisSettings, connect

log = logging.getLogger(__name__)


def create_app(config: RouterConfig) -> web.Application:
    # aiohttp's own body cap, above ours: ours answers a clean 413 first, this one guards everything else.
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=config.api.max_upload_bytes + (1 << 20))
    metrics = RouterMetrics()
    audit = AuditLog(config.audit.enabled)
    app[state.CONFIG] = config
    app[state.LIMITS] = ApiLimits.from_config(config)
    app[state.METRICS] = metrics
    app[state.AUDIT] = audit
    if config.auth.enabled:
        app[state.KEYRING] = KeyRing.from_config(config.auth)
    else:
        log.warning("authentication is DISABLED by configuration (auth.enabled: false): every caller is admin")
    shared = config.rate_limit.enabled and config.rate_limit_uses_redis or config.storage.type == "redis" \
        or config.recordings.enabled and config.recordings.job_store == "redis"
    redis = _redis_client(config) if shared else None
    if redis is not None:
        app[state.REDIS] = redis
    memory = RedisMemory(redis, f"{config.storage.redis_prefix}:idem:") if redis is not None else LocalMemory()
    app[state.IDEMPOTENCY] = Idempotency(memory, config.api.idempotency_ttl_s,
                                         pending_ttl_s=config.overload.deadline_s + config.overload.body_timeout_s)
    if config.rate_limit.enabled:
        limit = config.rate_limit
        app[state.LIMITER] = (RedisRateLimiter(redis, limit.rate_per_s, limit.burst) if config.rate_limit_uses_redis
                              else LocalRateLimiter(limit.rate_per_s, limit.burst))
    pool = TritonPool(config.triton, registry=metrics.registry)
    try:
        store = create_store(config.storage, registry=metrics.registry)
    except StoreConfigError as exc:  # a missing or unreadable encryption key is a start-up config error
        raise ConfigError(str(exc)) from None
    executor = ThreadPoolExecutor(config.api.decode_workers, thread_name_prefix="vomid-decode")
    app[state.POOL], app[state.STORE], app[state.EXECUTOR] = pool, store, executor
    limits = AudioLimits(config.api.min_seconds, config.api.max_seconds, config.api.silence_rms)
    admission = app[state.ADMISSION] = Admission(config.overload, config.api.decode_workers, metrics)
    app[state.SERVICE] = VoiceprintService(pool, store, executor, admission, limits, config.verify, metrics, audit)
    app.cleanup_ctx.extend([_executor_ctx, _redis_ctx, _store_ctx, _pool_ctx])
    api.add_routes(app)
    system.add_routes(app)
    if config.recordings.enabled:  # speaker labelling of long recordings (router/recordings)
        add_recordings(app, config)
    return app


def _redis_client(config: RouterConfig) -> Redis:
    r = config.redis
    settings = RedisSettings(r.url, r.host, r.port, r.db, r.username, r.password, r.tls, r.tls_ca_file,
                             r.tls_cert_file, r.tls_key_file, tuple(r.sentinels), r.sentinel_master,
                             r.sentinel_password, r.timeout_s, setting_prefix="redis.")
    try:
        return connect(settings, fail_fast=False)  # the limiter lets requests through while Redis is away
    except StoreConfigError as exc:
        raise ConfigError(str(exc)) from None


async def _executor_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    app[state.EXECUTOR].shutdown(wait=True, cancel_futures=True)


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    redis = app.get(state.REDIS)
    if redis is not None:
        try:
            await redis.ping()
        except (RedisError, OSError) as exc:  # the limiter lets requests through until Redis is back
            log.warning("redis for rate limits is unreachable at startup: %s", exc)
    yield
    if redis is not None:
        await redis.aclose()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[state.STORE]
    await store.open()
    yield
    await store.close()


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = app[state.POOL]
    await pool.start()
    info = pool.model_info()
    if info.get("random_weights"):
        log.warning("Triton serves a RANDOM-WEIGHT model (%s): every response carries a warning",
                    info.get("source"))
    yield
    await pool.close()


def serve(config: RouterConfig) -> None:
    """Runs the router until SIGINT/SIGTERM (what `python -m router` and `vomid up` do after their set-up)."""
    web.run_app(create_app(config), host=config.api.host, port=config.api.port, access_log=None,
                print=lambda message: log.info("%s", message))
