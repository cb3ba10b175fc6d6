"""Thin handlers of the voiceprint API (/api/v1): parse and validate at the edge, call VoiceprintService, reply.

Handlers that need inference are `@admitted`: they take an admission slot before reading the body (503 when none
is free), read it under the upload deadline (408), and run the rest under the request deadline.
"""
from __future__ import annotations

import functools

from aiohttp import web

from router import idempotency, responses, state
from router.errors import BadRequest
from router.admission import Deadline
from router.intake import Form, read_form
from router.middlewares import requires

MAX_NAME = 200
MAX_USER_ID = 128


def admitted(handler):
    """Holds one admission slot for the whole request; the handler gets its form and deadline."""
    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        admission = request.app[state.ADMISSION]
        with admission.admit():
            api = request.app[state.CONFIG].api
            form = await admission.read_body(read_form(request, api.max_upload_bytes, api.max_field_kb * 1024))
            return await handler(request, form, admission.deadline())
    return run


def _actor(request: web.Request) -> str | None:
    key = request.get(state.API_KEY)
    return key.key_id if key is not None else None


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if len(user_id) > MAX_USER_ID:
        raise BadRequest(f"user_id longer than {MAX_USER_ID} characters", code="invalid_field")
    return user_id


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer", code="invalid_parameter") from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low} and {high}", code="invalid_parameter")
    return value


def idempotent(handler):
    """Honours an Idempotency-Key header: a retry with the same key gets the first reply (see router.idempotency)."""
    @functools.wraps(handler)
    async def run(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
        key = request.headers.get(idempotency.HEADER)
        if key is None:
            return await handler(request, form, deadline)
        memory = request.app[state.IDEMPOTENCY]
        route = request.match_info.route.resource.canonical
        fingerprint = idempotency.fingerprint(request.path, form.fields, form.audio)
        claim = await memory.claim(key, f"{_actor(request)}:{route}", fingerprint)
        if isinstance(claim, idempotency.Reply):
            return web.Response(text=claim.body, status=claim.status, content_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        try:
            response = await handler(request, form, deadline)
        except BaseException:
            await memory.abandon(claim)
            raise
        await memory.finish(claim, idempotency.Reply(response.status, response.text))
        return response
    return run


@requires("admin")
@admitted
@idempotent
async def register(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    name = form.text("name", required=True, max_length=MAX_NAME)
    metadata = form.json_object("metadata")
    result = await request.app[state.SERVICE].register(name, form.require_audio(), metadata, _actor(request),
                                                       deadline)
    return responses.reply(request, result, status=201)


@requires("admin")
@admitted
@idempotent
async def enroll(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    user_id = _user_id(request)
    result = await request.app[state.SERVICE].enroll(user_id, form.require_audio(), _actor(request), deadline)
    return responses.reply(request, result)


@requires("verify")
@admitted
async def verify(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    threshold = form.number("threshold", low=request.app[state.SERVICE].threshold_floor, high=1.0)
    user_id = form.text("user_id", max_length=MAX_USER_ID)
    result = await request.app[state.SERVICE].verify(form.require_audio(), user_id, threshold, _actor(request),
                                                     deadline)
    return responses.reply(request, result)


@requires("identify")
@admitted
async def identify(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    settings = request.app[state.CONFIG].verify
    top_k = form.integer("top_k", low=1, high=settings.max_top_k) or settings.default_top_k
    result = await request.app[state.SERVICE].identify(form.require_audio(), top_k, _actor(request), deadline)
    return responses.reply(request, result)


@requires("verify")
async def get_user(request: web.Request) -> web.Response:
    return responses.reply(request, await request.app[state.SERVICE].get(_user_id(request)))


@requires("admin")
async def delete_user(request: web.Request) -> web.Response:
    user_id = _user_id(request)
    await request.app[state.SERVICE].delete(user_id, _actor(request))
    return responses.reply(request, {"deleted": True, "user_id": user_id})


@requires("admin")
async def list_users(request: web.Request) -> web.Response:
    offset = _query_int(request, "offset", 0, 0, 10**9)
    limit = _query_int(request, "limit", 50, 1, 1000)
    return responses.reply(request, await request.app[state.SERVICE].list(offset, limit))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/voiceprint/register", register)
    app.router.add_post("/api/v1/voiceprint/verify", verify)
    app.router.add_post("/api/v1/voiceprint/identify", identify)
    app.router.add_post("/api/v1/voiceprint/{user_id}/enroll", enroll)
    app.router.add_get("/api/v1/voiceprint/{user_id}", get_user)
    app.router.add_delete("/api/v1/voiceprint/{user_id}", delete_user)
    app.router.add_get("/api/v1/voiceprints", list_users)
