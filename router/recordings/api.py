"""Thin handlers of /api/v1/recordings (scope `label`): spool the upload, then call RecordingService."""
from __future__ import annotations

import asyncio

from aiohttp import web

from router import responses, state
from router.errors import BadRequest, RequestTimeout
from router.middlewares import requires
from router.recordings.service import RecordingService

RECORDINGS = web.AppKey("recordings", RecordingService)
FORMATS = ("json", "rttm")


@requires("label")
async def submit(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    service.admit()
    job_id = service.new_id()
    service.uploads += 1
    try:
        upload = await asyncio.wait_for(service.spool.receive(request, job_id), service.config.upload_timeout_s)
    except asyncio.TimeoutError:
        raise RequestTimeout(f"the recording was not received within {service.config.upload_timeout_s:g}s",
                             headers={"Connection": "close"}) from None
    finally:
        service.uploads -= 1
    try:
        num_speakers = service.requested_speakers(upload.fields.get("num_speakers"), request.query.get("num_speakers"))
        view = await service.submit(job_id, upload, num_speakers, request.get(state.API_KEY))
    except BaseException:
        service.spool.remove(job_id)
        raise
    return responses.reply(request, view, status=202, headers={"Location": f"/api/v1/recordings/{job_id}"})


@requires("label")
async def status(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    job_id, key = request.match_info["job_id"], request.get(state.API_KEY)
    answer_format = request.query.get("format", "json")
    if answer_format not in FORMATS:
        raise BadRequest(f"'format' must be one of {', '.join(FORMATS)}", code="invalid_field")
    if answer_format == "rttm":
        return web.Response(text=await service.rttm(job_id, key), content_type="text/plain")
    return responses.reply(request, await service.status(job_id, key))


@requires("label")
async def delete(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    return responses.reply(request, await service.delete(request.match_info["job_id"], request.get(state.API_KEY)))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/recordings", submit)
    app.router.add_get("/api/v1/recordings/{job_id}", status)
    app.router.add_delete("/api/v1/recordings/{job_id}", delete)
