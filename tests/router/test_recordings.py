"""POST/GET/DELETE /api/v1/recordings through the real app and a real Triton: jobs, progress, results, limits."""
from __future__ import annotations

import asyncio
import io
import time

import numpy as np
import pytest
import soundfile as sf
from aiohttp import FormData

from labelling.rttm import parse_rttm
from loadtest.label_eval import speech_agreement
from loadtest.meetings import build_meeting, read_clips, speakers_with_audio
from router.keys import append_key
from router.recordings.api import RECORDINGS
from router.recordings.jobs import FileJobStore, Job
from tests.router.conftest import auth, form
from tests.shared_data import AUDIO, utterances

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def label_keys(key_file) -> dict[str, str]:
    """Two label keys, next to the session's admin / verify / identify keys in the same file."""
    path = key_file[0]
    return {"a": append_key(path, ["label"], "label-a")[0], "b": append_key(path, ["label"], "label-b")[0],
            "admin": key_file[1], "verify": key_file[2]}


@pytest.fixture(scope="module")
def meeting():
    utterances()  # skips without ../shared
    from engine.vad import SileroVad
    from tools.export.vad import silero_onnx

    clips = read_clips(AUDIO)
    return build_meeting(clips, speakers_with_audio(clips)[:3], 45.0, SileroVad(silero_onnx()[0]), seed=8)


@pytest.fixture(scope="module")
def flac(meeting) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, meeting.waveform, 16000, format="FLAC")
    return buffer.getvalue()


@pytest.fixture(scope="module")
async def app(make_client, router_settings, tmp_path_factory, label_keys):
    spool = tmp_path_factory.mktemp("spool")
    return await make_client(router_settings(recordings={"spool_dir": str(spool), "heartbeat_s": 0.5,
                                                         "stale_after_s": 2.0, "max_jobs": 3}))


async def _wait(client, job_id: str, key: str, until=("succeeded", "failed", "cancelled"), timeout=120.0):
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await client.get(f"/api/v1/recordings/{job_id}", headers=auth(key))
        assert response.status == 200, await response.text()
        body = await response.json()
        seen.append(body)
        if body["status"] in until:
            return body, seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} still {seen[-1]['status']} after {timeout}s")


async def test_multipart_job_runs_with_progress_and_returns_segments_and_rttm(app, flac, meeting, label_keys):
    response = await app.post("/api/v1/recordings", data=form(flac, filename="standup.flac"),
                              headers=auth(label_keys["a"]))
    assert response.status == 202, await response.text()
    job = await response.json()
    assert response.headers["Location"] == f"/api/v1/recordings/{job['job_id']}"
    assert job["status"] == "queued" and job["filename"] == "standup.flac" and job["bytes"] == len(flac)
    done, seen = await _wait(app, job["job_id"], label_keys["a"])
    assert done["status"] == "succeeded" and done["progress"] == 1.0, done
    running = [s["progress"] for s in seen if s["status"] == "running"]
    assert any(0 < p < 1 for p in running), "no progress was reported while the job ran"
    assert running == sorted(running)
    result = done["result"]
    assert result["duration_s"] == pytest.approx(meeting.seconds, abs=0.01)
    hypothesis = [(s["start"], s["end"], s["label"]) for s in result["segments"]]
    assert speech_agreement(meeting.truth, hypothesis, meeting.seconds) >= 0.95
    rttm = await app.get(f"/api/v1/recordings/{job['job_id']}?format=rttm", headers=auth(label_keys["a"]))
    assert rttm.status == 200 and rttm.content_type == "text/plain"
    turns = parse_rttm(await rttm.text())
    assert [(t.start, round(t.end, 3)) for t in turns] == [(s[0], s[1]) for s in hypothesis]
    assert {t.file_id for t in turns} == {"standup.flac"}
    spool = app.app[RECORDINGS].spool
    assert not spool.path(job["job_id"]).exists(), "the audio outlived its job"


async def test_raw_body_with_a_speaker_count(app, flac, label_keys):
    response = await app.post("/api/v1/recordings?num_speakers=2", data=flac,
                              headers={**auth(label_keys["a"]), "Content-Type": "audio/flac"})
    assert response.status == 202, await response.text()
    job = await response.json()
    assert job["num_speakers"] == 2 and job["filename"] is None
    done, _ = await _wait(app, job["job_id"], label_keys["a"])
    assert done["status"] == "succeeded" and done["result"]["num_speakers"] <= 2


async def test_jobs_belong_to_their_key(app, flac, label_keys):
    for key, status in (("verify", 403), (None, 401)):
        response = await app.post("/api/v1/recordings", data=form(flac), headers=auth(label_keys[key]) if key else {})
        assert response.status == status
    response = await app.post("/api/v1/recordings", data=form(flac), headers=auth(label_keys["a"]))
    job_id = (await response.json())["job_id"]
    assert (await app.get(f"/api/v1/recordings/{job_id}", headers=auth(label_keys["b"]))).status == 404
    assert (await app.delete(f"/api/v1/recordings/{job_id}", headers=auth(label_keys["b"]))).status == 404
    assert (await app.get(f"/api/v1/recordings/{job_id}", headers=auth(label_keys["admin"]))).status == 200
    await _wait(app, job_id, label_keys["a"])


@pytest.mark.parametrize("body, headers, status, code", [
    (b"definitely not audio, just text" * 50, {"Content-Type": "application/octet-stream"}, 415,
     "unsupported_format"),
    (b"", {"Content-Type": "application/octet-stream"}, 400, "empty_audio"),
    (b"RIFF", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
])
async def test_bad_uploads_leave_nothing_behind(app, label_keys, body, headers, status, code):
    response = await app.post("/api/v1/recordings", data=body, headers={**auth(label_keys["a"]), **headers})
    assert response.status == status and (await response.json())["error"]["code"] == code
    assert not list(app.app[RECORDINGS].spool.audio_dir.iterdir())


async def test_bad_fields_and_unknown_jobs(app, flac, label_keys):
    key = auth(label_keys["a"])
    for value in ("0", "33", "two"):
        response = await app.post("/api/v1/recordings", data=form(flac, num_speakers=value), headers=key)
        assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_field"
    no_audio = FormData(default_to_multipart=True)
    no_audio.add_field("num_speakers", "2")
    response = await app.post("/api/v1/recordings", data=no_audio, headers=key)
    assert response.status == 400 and (await response.json())["error"]["code"] == "missing_field"
    for job_id in ("nope-nope-nope-nope-nope", "../../etc/passwd", "x" * 300):
        assert (await app.get(f"/api/v1/recordings/{job_id}", headers=key)).status == 404
    assert not list(app.app[RECORDINGS].spool.audio_dir.iterdir())


async def test_deleting_a_running_job_stops_and_erases_it(app, flac, label_keys):
    key = auth(label_keys["a"])
    response = await app.post("/api/v1/recordings", data=form(flac), headers=key)
    job_id = (await response.json())["job_id"]
    await _wait(app, job_id, label_keys["a"], until=("running",))
    early = await app.get(f"/api/v1/recordings/{job_id}?format=rttm", headers=key)
    assert early.status == 409 and (await early.json())["error"]["code"] == "job_not_finished"
    response = await app.delete(f"/api/v1/recordings/{job_id}", headers=key)
    assert response.status == 200
    assert {**(await response.json()), "warning": None} == {"job_id": job_id, "deleted": True, "cancelled": True,
                                                            "warning": None}
    service = app.app[RECORDINGS]
    assert not service.spool.path(job_id).exists() and job_id not in service.runner.local
    assert (await app.get(f"/api/v1/recordings/{job_id}", headers=key)).status == 404
    assert (await app.delete(f"/api/v1/recordings/{job_id}", headers=key)).status == 404
    await asyncio.sleep(2 * service.config.heartbeat_s)  # no heartbeat brings the deleted job back
    assert await service.jobs.get(job_id) is None


async def test_deleting_a_finished_job_erases_its_result(app, flac, label_keys):
    key = auth(label_keys["a"])
    job_id = (await (await app.post("/api/v1/recordings", data=form(flac), headers=key)).json())["job_id"]
    done, _ = await _wait(app, job_id, label_keys["a"])
    assert done["status"] == "succeeded"
    response = await app.delete(f"/api/v1/recordings/{job_id}", headers=key)
    assert (await response.json())["cancelled"] is False
    assert (await app.get(f"/api/v1/recordings/{job_id}", headers=key)).status == 404


async def test_a_query_that_is_not_understood_is_refused(app, flac, label_keys):
    key = auth(label_keys["a"])
    response = await app.post("/api/v1/recordings?num_speakers=33", data=form(flac), headers=key)
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_field"
    response = await app.post("/api/v1/recordings?num_speakers=2", data=form(flac, num_speakers="40"), headers=key)
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_field"  # both checked
    response = await app.post("/api/v1/recordings?num_speakers=3", data=form(flac, num_speakers="2"), headers=key)
    assert response.status == 202 and (await response.json())["num_speakers"] == 3  # the query's counts
    assert (await app.delete(f"/api/v1/recordings/{(await response.json())['job_id']}", headers=key)).status == 200
    extra = form(flac)
    extra.add_field("colour", "blue")
    response = await app.post("/api/v1/recordings", data=extra, headers=key)
    assert response.status == 400 and (await response.json())["error"]["code"] == "unknown_field"
    job_id = (await (await app.post("/api/v1/recordings", data=form(flac), headers=key)).json())["job_id"]
    response = await app.get(f"/api/v1/recordings/{job_id}?format=xml", headers=key)
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_field"
    assert (await app.delete(f"/api/v1/recordings/{job_id}", headers=key)).status == 200
    assert not list(app.app[RECORDINGS].spool.audio_dir.iterdir())  # the refused uploads left nothing behind


async def test_limits_of_size_duration_and_jobs(make_client, router_settings, tmp_path, flac, label_keys):
    client = await make_client(router_settings(recordings={"spool_dir": str(tmp_path), "max_upload_mb": 0.5,
                                                           "max_seconds": 20, "max_jobs": 1}))
    key = auth(label_keys["a"])
    response = await client.post("/api/v1/recordings", data=form(flac), headers=key)
    assert response.status == 413 and (await response.json())["error"]["code"] == "payload_too_large"
    thirty = io.BytesIO()
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(16000 * 30) / 16000)  # compresses well under 0.5 MB
    sf.write(thirty, tone.astype(np.float32), 16000, format="FLAC")
    response = await client.post("/api/v1/recordings", data=form(thirty.getvalue()), headers=key)
    job_id = (await response.json())["job_id"]
    busy = await client.post("/api/v1/recordings", data=form(thirty.getvalue()), headers=key)
    assert busy.status == 503 and (await busy.json())["error"]["code"] == "too_many_jobs"
    assert "Retry-After" in busy.headers
    done, _ = await _wait(client, job_id, label_keys["a"])
    assert done["status"] == "failed" and done["error"]["code"] == "audio_too_long"


async def test_a_job_whose_router_went_silent_is_reported_failed(app, label_keys):
    service = app.app[RECORDINGS]
    stale = Job(job_id="stale-job-0123456789", node="another-router", key_id="label-a", status="running",
                updated_at=time.time() - 60)
    await service.jobs.save(stale)
    body, _ = await _wait(app, stale.job_id, label_keys["a"], until=("failed",), timeout=5)
    assert body["error"]["code"] == "job_lost"
    assert (await service.jobs.get(stale.job_id)).status == "failed"  # saved, not only reported


async def test_file_job_store_survives_a_new_instance(tmp_path):
    store = FileJobStore(tmp_path, ttl_s=60)
    await store.save(Job(job_id="a" * 20, node="n1", key_id=None))
    await store.save(Job(job_id="b" * 20, node="n2", key_id=None))
    await store.save(Job(job_id="c" * 20, node="n1", key_id=None, status="succeeded", finished_at=time.time()))
    await store.save(Job(job_id="d" * 20, node="n1", key_id=None, status="failed", finished_at=time.time() - 120))
    again = FileJobStore(tmp_path, ttl_s=60)
    assert [j.job_id for j in await again.active_on("n1")] == ["a" * 20]
    assert (await again.get("c" * 20)).status == "succeeded"
    assert await again.get("d" * 20) is None  # expired
    assert await again.get("../../x") is None


async def test_routers_sharing_redis_see_and_cancel_each_others_jobs(make_client, router_settings, redis_url,
                                                                     tmp_path, flac, label_keys):
    def settings(name: str) -> dict:
        return router_settings(redis={"url": redis_url}, recordings={
            "spool_dir": str(tmp_path / name), "job_store": "redis", "heartbeat_s": 0.5, "stale_after_s": 2.0})

    first, second = await make_client(settings("a")), await make_client(settings("b"))
    key = auth(label_keys["a"])
    response = await first.post("/api/v1/recordings", data=form(flac), headers=key)
    job_id = (await response.json())["job_id"]
    done, seen = await _wait(second, job_id, label_keys["a"])  # polled through the other router only
    assert done["status"] == "succeeded" and done["result"]["segments"]
    assert any(s["status"] == "running" and 0 < s["progress"] < 1 for s in seen)

    response = await first.post("/api/v1/recordings", data=form(flac), headers=key)
    job_id = (await response.json())["job_id"]
    await _wait(second, job_id, label_keys["a"], until=("running",))
    response = await second.delete(f"/api/v1/recordings/{job_id}", headers=key)
    assert (await response.json())["cancelled"] is True
    deadline = time.monotonic() + 10
    while first.app[RECORDINGS].spool.path(job_id).exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not first.app[RECORDINGS].spool.path(job_id).exists(), "the running router did not notice the cancel"
    assert job_id not in first.app[RECORDINGS].runner.local
    assert (await first.get(f"/api/v1/recordings/{job_id}", headers=key)).status == 404  # not saved back by it


async def test_keep_audio(make_client, router_settings, tmp_path, flac, label_keys):
    client = await make_client(router_settings(recordings={"spool_dir": str(tmp_path), "keep_audio": True}))
    response = await client.post("/api/v1/recordings", data=form(flac), headers=auth(label_keys["a"]))
    job_id = (await response.json())["job_id"]
    await _wait(client, job_id, label_keys["a"])
    assert client.app[RECORDINGS].spool.path(job_id).read_bytes() == flac


async def test_a_job_store_outage_is_a_503_and_the_router_still_starts(make_client, router_settings, tmp_path, flac,
                                                                       label_keys):
    from vomid.tritonserver import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = await make_client(router_settings(redis={"url": nowhere, "timeout_s": 0.5}, recordings={
        "spool_dir": str(tmp_path), "job_store": "redis", "heartbeat_s": 0.5, "stale_after_s": 2.0}))
    response = await client.post("/api/v1/recordings", data=form(flac), headers=auth(label_keys["a"]))
    assert response.status == 503 and (await response.json())["error"]["code"] == "storage_unavailable"
    assert "Retry-After" in response.headers
    assert not list(client.app[RECORDINGS].spool.audio_dir.iterdir())  # nothing acknowledged, nothing kept
    response = await client.get("/api/v1/recordings/some-job-id-0123456789", headers=auth(label_keys["a"]))
    assert response.status == 503
