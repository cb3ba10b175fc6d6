"""Thin handlers of the voiceprint API (/api/v1): parse and validate at the edge, call VoiceprintService, reply.

Handlers that need inference are `@admitted`: they take an admission slot before reading the body (503 when none
is free), read it under the upload deadline (408), and run the rest under the request deadline.
"""
from __future__ import annotations

import functools

from aiohttp import web

from router import idempotency, limits as lim, responses, state
from router.admission import Deadline
from router.intake import Form, invalid, parse_integer, read_form
from router.middlewares import requires

# GET/DELETE /api/v1/voiceprint/<word>: the words that name other operations' paths answer 405 there, not 404.
USER_PATH = "/api/v1/voiceprint/{user_id:(?!(?:%s)$)[^/]+}" % "|".join(lim.RESERVED_USER_IDS)


def admitted(*fields: str):
    """Holds one admission slot for the whole request; the handler gets its form (`audio` plus `fields`, each
    at most once) and deadline."""
    accepted = frozenset(fields)

    def wrap(handler):
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.Response:
            admission = request.app[state.ADMISSION]
            with admission.admit():
                limits = request.app[state.LIMITS]
                form = await admission.read_body(read_form(request, limits.max_upload_bytes,
                                                           limits.max_field_bytes, accepted))
                return await handler(request, form, admission.deadline())
        return run
    return wrap


def _actor(request: web.Request) -> str | None:
    key = request.get(state.API_KEY)
    return key.key_id if key is not None else None


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not lim.USER_ID.fullmatch(user_id):
        raise invalid(f"user_id must be {lim.USER_ID_RULE}")
    return user_id


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    return default if raw is None else parse_integer(raw, name, low, high, code="invalid_parameter")


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
@admitted("name", "metadata")
@idempotent
async def register(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    limits = request.app[state.LIMITS]
    name = form.text("name", required=True, pattern=lim.NAME, max_length=limits.max_name_chars,
                     what="text without control characters")
    metadata = form.json_object("metadata", max_depth=limits.max_metadata_depth)
    result = await request.app[state.SERVICE].register(name, form.require_audio(), metadata, _actor(request),
                                                       deadline)
    return responses.reply(request, result, status=201)


@requires("admin")
@admitted()
@idempotent
async def enroll(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    user_id = _user_id(request)
    result = await request.app[state.SERVICE].enroll(user_id, form.require_audio(), _actor(request), deadline)
    return responses.reply(request, result)


@requires("verify")
@admitted("user_id", "threshold")
async def verify(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    threshold = form.number("threshold", low=request.app[state.SERVICE].threshold_floor, high=1.0)
    user_id = form.text("user_id", pattern=lim.USER_ID, max_length=lim.MAX_USER_ID,
                        what=lim.USER_ID_RULE)
    result = await request.app[state.SERVICE].verify(form.require_audio(), user_id, threshold, _actor(request),
                                                     deadline)
    return responses.reply(request, result)


@requires("identify")
@admitted("top_k")
async def identify(request: web.Request, form: Form, deadline: Deadline) -> web.Response:
    limits = request.app[state.LIMITS]
    top_k = form.integer("top_k", low=1, high=limits.max_top_k) or limits.default_top_k
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
    offset = _query_int(request, "offset", 0, 0, lim.MAX_OFFSET)
    limit = _query_int(request, "limit", lim.DEFAULT_PAGE, 1, lim.MAX_PAGE)
    return responses.reply(request, await request.app[state.SERVICE].list(offset, limit))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/voiceprint/register", register)
    app.router.add_post("/api/v1/voiceprint/verify", verify)
    app.router.add_post("/api/v1/voiceprint/identify", identify)
    app.router.add_post("/api/v1/voiceprint/{user_id}/enroll", enroll)
    app.router.add_get(USER_PATH, get_user)
    app.router.add_delete(USER_PATH, delete_user)
    app.router.add_get("/api/v1/voiceprints", list_users)
