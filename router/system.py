"""Operational endpoints: /health (liveness + readiness per backend), /metrics, /api/v1/stats, docs and spec."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from router import auth, responses, state
from router.errors import ApiError
from router.middlewares import requires
from router.openapi import openapi_spec
from store.errors import StorageUnavailable

try:  # Swagger UI's static files, shipped by the swagger-ui-bundle wheel (no CDN at run time)
    from swagger_ui_bundle import swagger_ui_path as SWAGGER_UI_DIR
except ImportError:  # pragma: no cover - the docs page falls back to the raw spec link
    SWAGGER_UI_DIR = None

HEALTH_TIMEOUT_S = 2.0


async def health(request: web.Request) -> web.Response:
    """Readiness: "ok", "degraded" (still serving, e.g. a Triton instance or the rate-limit Redis is out) or "down"
    (503: the store or every Triton instance is unreachable). Details need an admin key: the public answer names
    no address, path or count.
    """
    app = request.app
    backends: dict[str, dict] = {"store": await _store_health(app)}
    pool = app[state.POOL]
    instances = pool.states()
    backends["triton"] = {"ok": pool.ready(), "instances": instances,
                          "serving": sum(1 for i in instances if i["healthy"] and not i["ejected"])}
    if (redis := app.get(state.REDIS)) is not None:
        backends["redis"] = await _redis_health(redis)
    ready = backends["store"]["ok"] and backends["triton"]["ok"]
    complete = ready and backends["triton"]["serving"] == len(instances) and all(b["ok"] for b in backends.values())
    info = pool.model_info()
    body = {"status": "ok" if complete else "degraded" if ready else "down", "live": True, "ready": ready,
            "random_weights": bool(info.get("random_weights"))}
    if _is_admin(request):
        body |= {"model": info, "backends": backends}
    return responses.reply(request, body, status=200 if ready else 503)


def _is_admin(request: web.Request) -> bool:
    keyring = request.app.get(state.KEYRING)
    if keyring is None:
        return True  # auth disabled by configuration: every caller is admin
    presented = auth.presented_key(request.headers)
    if not presented:
        return False
    try:
        return keyring.authenticate(presented).allows("admin")
    except ApiError:
        return False


@requires("admin")
async def stats(request: web.Request) -> web.Response:
    app = request.app
    users = await app[state.STORE].count()
    return responses.reply(request, {"users": users, "requests": app[state.METRICS].summary(),
                                 "instances": app[state.POOL].states(), "model": app[state.POOL].model_info()})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    store = await _store_health(app)
    app[state.METRICS].backend_up.labels("store").set(1 if store["ok"] else 0)
    if (redis := app.get(state.REDIS)) is not None:
        app[state.METRICS].backend_up.labels("redis").set(1 if (await _redis_health(redis))["ok"] else 0)
    try:  # read at scrape time: with a shared Redis store, writes from other replicas count too
        app[state.METRICS].store_users.set(await app[state.STORE].count())
    except StorageUnavailable:
        pass  # the gauge keeps its last value; /health reports the outage
    body = generate_latest(app[state.METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    """The document for this router's limits and the service's current threshold floor and default."""
    service = request.app[state.SERVICE]
    return web.json_response(openapi_spec(request.app[state.LIMITS], service.threshold_floor, service.threshold))


DOCS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Edge-VoMID API</title>
<link rel="stylesheet" href="/api/v1/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/v1/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""

FALLBACK_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Edge-VoMID API</title></head>
<body><h1>Edge-VoMID API</h1><p>Swagger UI is not installed; the spec is at
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></body></html>"""


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE if SWAGGER_UI_DIR else FALLBACK_PAGE, content_type="text/html")


async def _store_health(app: web.Application) -> dict:
    try:
        result = await asyncio.wait_for(app[state.STORE].health(), HEALTH_TIMEOUT_S)
    except (asyncio.TimeoutError, OSError, RedisError) as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - a failing backend is reported, not raised, by a health check
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": bool(result.get("ok", True)), **result}


async def _redis_health(redis) -> dict:
    try:
        await asyncio.wait_for(redis.ping(), HEALTH_TIMEOUT_S)
    except (asyncio.TimeoutError, OSError, RedisError) as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True}


async def live(request: web.Request) -> web.Response:
    """Liveness only: the process answers. Orchestrators must not restart the router because Triton is down."""
    return responses.reply(request, {"live": True})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/stats", stats)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/docs", docs)
    if SWAGGER_UI_DIR:
        app.router.add_static("/api/v1/docs/static", Path(SWAGGER_UI_DIR), name="swagger-ui")
