"""Typed application state keys (web.AppKey) shared by the factory, the middlewares and the handlers."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from redis.asyncio import Redis

from router.admission import Admission
from router.auth import ApiKey, KeyRing
from router.config import RouterConfig
from router.idempotency import Idempotency
from router.limits import ApiLimits
from router.balancer.pool import TritonPool
from router.logs import AuditLog
from router.metrics import RouterMetrics
from router.ratelimit import RateLimiter
from router.service import VoiceprintService
from store import VoiceprintStore

CONFIG = web.AppKey("config", RouterConfig)
LIMITS = web.AppKey("limits", ApiLimits)  # what the API accepts: intake and the OpenAPI spec read it
METRICS = web.AppKey("metrics", RouterMetrics)
AUDIT = web.AppKey("audit", AuditLog)
KEYRING = web.AppKey("keyring", KeyRing)  # absent when auth is disabled
POOL = web.AppKey("pool", TritonPool)
STORE = web.AppKey("store", VoiceprintStore)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
REDIS = web.AppKey("redis", Redis)  # absent unless something needs Redis
LIMITER = web.AppKey("limiter", RateLimiter)  # absent when rate limiting is off
SERVICE = web.AppKey("service", VoiceprintService)
ADMISSION = web.AppKey("admission", Admission)
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)

API_KEY = web.RequestKey("api_key", ApiKey)  # the authenticated key; None when auth is off
