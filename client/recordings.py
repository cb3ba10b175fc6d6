"""Speaker labelling jobs in the SDK: the job model, and the polling both clients share.

`label_recording(path)` streams the file as the request body (a 2-hour recording never sits in memory), then
polls the job until it ends; a failed or cancelled job raises `LabelJobFailed` carrying the job.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from client.errors import VoMIDError
from labelling.rttm import write_rttm

FINISHED = ("succeeded", "failed", "cancelled")
UPLOAD_TIMEOUT_S = 3600.0  # sending up to 200 MB: the per-request timeout of ordinary calls is too short


@dataclass(frozen=True)
class LabelSegment:
    start: float
    end: float
    label: str  # the enrolled user's id, else speaker_<n>
    user_id: str | None = None
    name: str | None = None
    score: float | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "LabelSegment":
        return cls(start=float(body["start"]), end=float(body["end"]), label=str(body["label"]),
                   user_id=body.get("user_id"), name=body.get("name"), score=body.get("score"))


@dataclass(frozen=True)
class RecordingJob:
    job_id: str
    status: str  # queued, running, succeeded, failed, cancelled
    progress: float
    stage: str = ""
    error: dict[str, Any] | None = None
    segments: list[LabelSegment] = field(default_factory=list)
    speakers: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float | None = None
    filename: str | None = None
    warning: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "RecordingJob":
        result = body.get("result") or {}
        return cls(job_id=str(body["job_id"]), status=str(body["status"]), progress=float(body.get("progress", 0)),
                   stage=str(body.get("stage", "")), error=body.get("error"),
                   segments=[LabelSegment.from_json(s) for s in result.get("segments", [])],
                   speakers=list(result.get("speakers", [])), duration_s=result.get("duration_s"),
                   filename=body.get("filename"), warning=body.get("warning"), raw=body)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def rttm(self, file_id: str | None = None) -> str:
        """The result as RTTM (the same text as GET ...?format=rttm)."""
        return write_rttm(file_id or self.filename or self.job_id, [(s.start, s.end, s.label) for s in self.segments])


class LabelJobFailed(VoMIDError):
    """A labelling job ended failed or cancelled; `job` says why (job.error)."""

    def __init__(self, job: RecordingJob):
        error = job.error or {}
        super().__init__(f"labelling job {job.job_id} {job.status}: {error.get('message', 'no reason given')}",
                         code=error.get("code"))
        self.job = job


class Poll:
    """When to look again at a job, and when to give up waiting (the job goes on on the server)."""

    def __init__(self, interval_s: float, timeout_s: float | None,
                 progress: Callable[[RecordingJob], None] | None):
        self.interval_s, self.progress = interval_s, progress
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def done(self, job: RecordingJob) -> bool:
        if self.progress is not None:
            self.progress(job)
        if job.finished:
            if job.status != "succeeded":
                raise LabelJobFailed(job)
            return True
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError(f"labelling job {job.job_id} still {job.status} ({100 * job.progress:.0f}%)")
        return False
