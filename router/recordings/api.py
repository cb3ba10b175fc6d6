"""Thin handlers of /api/v1/recordings (scope `label`): spool the upload, then call RecordingService."""
from __future__ import annotations

import asyncio

from aiohttp import web

from router import responses, state
from router.errors import RequestTimeout
from router.middlewares import requires
from router.recordings.service import RecordingService

RECORDINGS = web.AppKey("recordings", RecordingService)


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
        num_speakers = service.num_speakers(upload.fields.get("num_speakers", request.query.get("num_speakers")))
        view = await service.submit(job_id, upload, num_speakers, request.get(state.API_KEY))
    except BaseException:
        service.spool.remove(job_id)
        raise
    return responses.reply(request, view, status=202, headers={"Location": f"/api/v1/recordings/{job_id}"})


@requires("label")
async def status(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    job_id, key = request.match_info["job_id"], request.get(state.API_KEY)
    if request.query.get("format") == "rttm":
        return web.Response(text=await service.rttm(job_id, key), content_type="text/plain")
    return responses.reply(request, await service.status(job_id, key))


@requires("label")
async def cancel(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    return responses.reply(request, await service.cancel(request.match_info["job_id"], request.get(state.API_KEY)))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/recordings", submit)
    app.router.add_get("/api/v1/recordings/{job_id}", status)
    app.router.add_delete("/api/v1/recordings/{job_id}", cancel)
