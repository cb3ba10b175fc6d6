"""Labelling jobs and where their state lives, so a job outlives the router that accepted it.

One small interface (`JobStore`) with a file implementation here (one JSON file per job, replaced atomically and
fsync'd, so a crash leaves the old or the new state, never half of one) and a Redis one (redis_jobs.py), which
every router of a deployment shares. A job belongs to the router node that spooled its audio (`node`); that node
resumes it after a restart.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from store.errors import StorageUnavailable

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass
class Job:
    job_id: str
    node: str  # the router node holding the audio
    key_id: str | None  # the API key that submitted it (None with auth off)
    filename: str | None = None
    bytes: int = 0
    num_speakers: int | None = None
    status: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    attempts: int = 0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: dict | None = None  # {"code", "message"}
    result: dict | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Job":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class JobStore(ABC):
    @abstractmethod
    async def save(self, job: Job) -> None:
        """Create or replace; a finished job expires `ttl_s` after it finished."""

    @abstractmethod
    async def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    async def delete(self, job_id: str) -> None: ...

    @abstractmethod
    async def active_on(self, node: str) -> list[Job]:
        """The queued or running jobs of one node, oldest first (what it resumes after a restart)."""

    async def close(self) -> None:
        pass


class FileJobStore(JobStore):
    """spool_dir/jobs/<job_id>.json; expired finished jobs are swept when a node lists its jobs."""

    def __init__(self, folder: Path, ttl_s: float):
        self.folder, self.ttl_s = folder, ttl_s
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.folder / f"{job_id}.json"

    async def save(self, job: Job) -> None:
        try:
            await asyncio.to_thread(_write_atomic, self._path(job.job_id), job.to_json().encode())
        except OSError as exc:  # a full or read-only disk: 503, and the job is not acknowledged
            raise StorageUnavailable(f"cannot save job state in {self.folder}: {exc.strerror}") from None

    async def get(self, job_id: str) -> Job | None:
        if not JOB_ID.match(job_id):
            return None
        job = await asyncio.to_thread(self._read, self._path(job_id))
        if job is not None and self._expired(job):
            await self.delete(job_id)
            return None
        return job

    async def delete(self, job_id: str) -> None:
        self._path(job_id).unlink(missing_ok=True)

    async def active_on(self, node: str) -> list[Job]:
        jobs = []
        for path in sorted(self.folder.glob("*.json")):
            job = await asyncio.to_thread(self._read, path)
            if job is None:
                continue
            if self._expired(job):
                path.unlink(missing_ok=True)
            elif job.active and job.node == node:
                jobs.append(job)
        return sorted(jobs, key=lambda j: j.created_at)

    def _expired(self, job: Job) -> bool:
        return not job.active and job.finished_at is not None and time.time() - job.finished_at > self.ttl_s

    @staticmethod
    def _read(path: Path) -> Job | None:
        try:
            return Job.from_json(path.read_bytes())
        except FileNotFoundError:
            return None


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
