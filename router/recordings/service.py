"""Labelling jobs as the API sees them, free of HTTP: submit, status, RTTM, delete, with access and staleness rules.

A job is visible only to the key that submitted it and to admin keys (anyone else gets 404, as for a job that does
not exist). A job still marked active whose state has not been saved for `stale_after_s` lost its router: it is
reported, and saved, as failed, so it is never silently lost.
"""
from __future__ import annotations

import secrets
import time

from labelling.rttm import write_rttm
from router.auth import ApiKey
from router.errors import ApiError, BadRequest, NotFound, Unavailable
from router.recordings.config import RecordingsConfig
from router.recordings.jobs import Job, JobStore
from router.recordings.runner import JobRunner
from router.recordings.spool import Spool, Upload

MAX_NUM_SPEAKERS = 32


class JobNotFinished(ApiError):
    status, code = 409, "job_not_finished"


class RecordingService:
    def __init__(self, config: RecordingsConfig, jobs: JobStore, spool: Spool, node: str, score_decimals: int):
        self.config, self.jobs, self.spool, self.node = config, jobs, spool, node
        self.score_decimals = score_decimals
        self.runner: JobRunner | None = None  # set by the app once the pipeline exists
        self.uploads = 0

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(18)

    def admit(self) -> None:
        """Refuses a new upload at once when the jobs or uploads are at their bounds or the disk is short."""
        if self.runner is None or self.runner.active + self.uploads >= self.config.max_jobs:
            raise Unavailable("too many recordings are being labelled; retry later", retry_after_s=30,
                              code="too_many_jobs")
        if self.uploads >= self.config.max_uploads:
            raise Unavailable("too many recordings are being uploaded; retry later", retry_after_s=5,
                              code="too_many_uploads")
        self.spool.check_space()

    @classmethod
    def requested_speakers(cls, form_value: str | None, query_value: str | None) -> int | None:
        """num_speakers from the query or the form, each checked; given in both, the query's counts."""
        from_form, from_query = cls.num_speakers(form_value), cls.num_speakers(query_value)
        return from_query if from_query is not None else from_form

    @staticmethod
    def num_speakers(raw: str | None) -> int | None:
        if raw is None or not raw.strip():
            return None
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest("'num_speakers' must be an integer", code="invalid_field") from None
        if not 1 <= value <= MAX_NUM_SPEAKERS:
            raise BadRequest(f"'num_speakers' must be between 1 and {MAX_NUM_SPEAKERS}", code="invalid_field")
        return value

    async def submit(self, job_id: str, upload: Upload, num_speakers: int | None, key: ApiKey | None) -> dict:
        job = Job(job_id=job_id, node=self.node, key_id=key.key_id if key else None, filename=upload.filename,
                  bytes=upload.bytes, num_speakers=num_speakers)
        await self.runner.submit(job)
        return self.view(job)

    async def status(self, job_id: str, key: ApiKey | None) -> dict:
        return self.view(await self._job(job_id, key))

    async def rttm(self, job_id: str, key: ApiKey | None) -> str:
        job = await self._job(job_id, key)
        if job.status != "succeeded":
            raise JobNotFinished(f"the job is {job.status}: its RTTM exists once it has succeeded")
        turns = [(s["start"], s["end"], s["label"]) for s in job.result["segments"]]
        return write_rttm(job.filename or job.job_id, turns)

    async def delete(self, job_id: str, key: ApiKey | None) -> dict:
        """Stops the job if it is still active, then erases it: state, audio and result (a GET then finds nothing)."""
        job = await self._job(job_id, key)
        if job.node == self.node and self.runner is not None:
            await self.runner.forget(job)
        else:  # another router runs it: that router notices the state is gone at its next save, stops, drops its audio
            await self.jobs.delete(job_id)
        return {"job_id": job_id, "deleted": True, "cancelled": job.active}

    def finish(self, job: Job, result: dict) -> dict:
        """The stored result: scores rounded like every score the API shows."""
        for item in result["speakers"] + result["segments"]:
            if item.get("score") is not None:
                item["score"] = round(item["score"], self.score_decimals)
        return result

    def view(self, job: Job) -> dict:
        view = {"job_id": job.job_id, "status": job.status, "stage": job.stage, "progress": job.progress,
                "created_at": job.created_at, "updated_at": job.updated_at, "started_at": job.started_at,
                "finished_at": job.finished_at, "attempts": job.attempts, "filename": job.filename,
                "bytes": job.bytes, "num_speakers": job.num_speakers}
        if job.error is not None:
            view["error"] = job.error
        if job.result is not None:
            view["result"] = job.result
        return view

    async def _job(self, job_id: str, key: ApiKey | None) -> Job:
        job = await self.jobs.get(job_id)
        if job is None or (key is not None and job.key_id != key.key_id and not key.allows("admin")):
            raise NotFound("no such recording job", code="job_not_found")
        if job.active and time.time() - job.updated_at > self.config.stale_after_s and \
                not (job.node == self.node and self.runner is not None and job.job_id in self.runner.local):
            job.status, job.stage, job.finished_at = "failed", "failed", time.time()
            job.error = {"code": "job_lost", "message": "the router running this job stopped answering; submit "
                         "the recording again"}
            await self.jobs.save(job)
        return job
