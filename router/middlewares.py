"""Cross-cutting request handling: request id, metrics + access log, domain-error mapping, auth + rate limit.

Order (outermost first): request_id -> metrics -> errors -> auth. Errors from other packages are mapped here,
by class, so the store and the Triton pool stay HTTP-free and handlers never build error bodies.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web

from audio import AudioError
from router import auth, logs, responses, state
from router.errors import ApiError, RateLimited
from router.limits import REQUEST_ID
from router.balancer.errors import (BalancerError, InferenceFailed, InferenceRejected, NoHealthyInstance,
                                    PoolOverloaded)
from store.errors import (CorruptData, EnrollmentLimit, InvalidEmbedding, InvalidRequest, ModelMismatch,
                          StorageUnavailable, UserExists, UserNotFound)

log = logging.getLogger(__name__)
access_log = logging.getLogger("vomid.access")

# Foreign domain errors -> (status, code, public message). A code of None keeps the error's own `code`; a message
# of None passes the error's text on (client errors only: 5xx texts name internal addresses and stay in the log).
# Order matters only for subclasses listed before their bases.
FOREIGN_ERRORS: tuple[tuple[type[Exception], int, str | None, str | None], ...] = (
    (AudioError, 422, None, None),
    (UserNotFound, 404, "user_not_found", None),
    (UserExists, 409, "user_exists", None),
    (ModelMismatch, 409, "model_mismatch", None),
    (EnrollmentLimit, 409, "enrollment_limit", None),
    (InvalidEmbedding, 422, "invalid_embedding", None),
    (InvalidRequest, 400, "invalid_request", None),
    (StorageUnavailable, 503, "storage_unavailable", "the voiceprint store is unavailable; retry later"),
    # A stored record failed its integrity check (quarantined, see the store's log).
    (CorruptData, 503, "storage_corrupt", "a stored voiceprint failed its integrity check; an operator must look"),
    (NoHealthyInstance, 503, "inference_unavailable", "no inference server is available; retry later"),
    (PoolOverloaded, 503, "overloaded", "the inference servers are at capacity; retry later"),
    (InferenceRejected, 422, "audio_rejected", None),
    (InferenceFailed, 503, "inference_failed", "inference failed on every server tried; retry later"),
    (BalancerError, 503, "inference_unavailable", "inference is unavailable; retry later"),
)
RETRY_AFTER_S = "1"  # 503s from backends: the outage may end any moment; clients back off from there


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    incoming = request.headers.get("X-Request-ID", "")
    rid = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    token = logs.request_id.set(rid)
    try:
        response = await handler(request)
        response.headers["X-Request-ID"] = rid
        if warning := responses.model_warning(request.app):
            response.headers["X-VoMID-Warning"] = warning
        return response
    finally:
        logs.request_id.reset(token)


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[state.METRICS].observe(route, request.method, status, elapsed)
        access_log.info("%s %s %d %.1fms", request.method, route, status, elapsed * 1000,
                        extra={"fields": {"method": request.method, "route": route, "status": status,
                                          "ms": round(elapsed * 1000, 2)}})


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(request, exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own 413 (client_max_size) uses the same code as ours.
        code = "payload_too_large" if exc.status == 413 else \
            re.sub(r"[^a-z0-9]+", "_", (exc.reason or "error").lower()).strip("_")
        kept = {name: exc.headers[name] for name in ("Allow", "Retry-After") if name in exc.headers}
        return _error(request, exc.status, code, exc.reason, kept)
    except Exception as exc:  # noqa: BLE001 - foreign domain errors are mapped; anything else is a bug
        for kind, status, code, public in FOREIGN_ERRORS:
            if isinstance(exc, kind):
                if public is not None:
                    log.warning("%d %s: %s", status, code, exc)
                headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else {}
                return _error(request, status, code or exc.code, public or str(exc), headers)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(request, 500, "internal_error", "internal error (see the server log for this request id)", {})


@web.middleware
async def auth_middleware(request: web.Request, handler):
    scope = getattr(request.match_info.handler, "vomid_scope", None)
    if scope is None:  # public endpoints: health, metrics, docs
        return await handler(request)
    keyring = request.app.get(state.KEYRING)
    api_key = keyring.authenticate(auth.presented_key(request.headers)) if keyring is not None else None
    auth.require(api_key, scope)
    request[state.API_KEY] = api_key
    limiter = request.app.get(state.LIMITER)
    if limiter is not None:
        bucket = api_key.key_id if api_key is not None else f"ip:{request.remote}"
        retry_after = await limiter.acquire(bucket)
        if retry_after > 0:
            request.app[state.METRICS].rate_limited.inc()
            raise RateLimited(retry_after)
    return await handler(request)


def requires(scope: str):
    """Marks a handler as needing an API key with `scope` (checked by auth_middleware)."""
    def mark(handler):
        handler.vomid_scope = scope
        return handler
    return mark


def _error(request: web.Request, status: int, code: str, message: str, headers: dict) -> web.Response:
    request.app[state.METRICS].errors.labels(code).inc()
    return responses.reply(request, {"error": {"code": code, "message": message}}, status=status, headers=headers)


MIDDLEWARES = [request_id_middleware, metrics_middleware, error_middleware, auth_middleware]
