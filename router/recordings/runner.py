"""Runs labelling jobs on this router: a bounded queue, `workers` jobs at once, state saved as they go.

Every local job (queued or running) is re-saved at least each `heartbeat_s`, and a running one within a second of
its progress changing; a job whose state goes unsaved for `stale_after_s` has lost its router (see service.py).
On start, the jobs this node left active are resumed: a job found `running` was cut off by a crash and is started
again until it has had `max_attempts` starts, then failed; one whose audio is gone is failed. A graceful shutdown
puts running jobs back in the queue without spending an attempt. The audio goes when the job ends, before its
final state is saved, unless `keep_audio`. A job deleted by its client is stopped and erased (audio and state); one
deleted through another router (shared Redis state) is noticed at its next save.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from audio import AudioError
from labelling.pipeline import LabelPipeline
from router.balancer.errors import BalancerError
from router.recordings.config import RecordingsConfig
from router.recordings.jobs import Job, JobStore
from router.recordings.spool import Spool
from store.errors import StorageUnavailable

log = logging.getLogger(__name__)
TICK_S = 0.5


class JobRunner:
    def __init__(self, jobs: JobStore, spool: Spool, pipeline: LabelPipeline, config: RecordingsConfig, node: str,
                 finish: Callable[[Job, dict], dict]):
        self.jobs, self.spool, self.pipeline, self.config, self.node = jobs, spool, pipeline, config, node
        self.finish = finish  # the service's view of a result (rounded scores)
        self.local: dict[str, Job] = {}  # this node's queued and running jobs
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._running: dict[str, asyncio.Task] = {}
        self._saved: dict[str, tuple[float, float]] = {}  # job id -> (time, progress) of its last save
        self._cancelled: set[str] = set()  # running jobs a client cancelled (their _run ends quietly)
        self._locks: dict[str, asyncio.Lock] = {}  # one save at a time per job: the last write is the latest state
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"recordings-worker-{n}")
                       for n in range(self.config.workers)]
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="recordings-heartbeat"))
        self._tasks.append(asyncio.create_task(self._resume_all(), name="recordings-resume"))

    async def _resume_all(self) -> None:
        """The jobs this node left active; retried while the job store is unreachable (the router serves anyway)."""
        while True:
            try:
                for job in await self.jobs.active_on(self.node):
                    if job.job_id not in self.local:
                        await self._resume(job)
                return
            except StorageUnavailable as exc:
                log.warning("cannot resume labelling jobs yet: %s", exc)
                await asyncio.sleep(self.config.heartbeat_s)

    async def stop(self) -> None:
        """Graceful: running jobs go back to the queue (their start is not counted), state is saved."""
        for task in self._tasks:
            task.cancel()
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._running.values(), return_exceptions=True)
        for job in list(self.local.values()):
            if job.status == "running":
                job.status, job.stage, job.attempts = "queued", "queued (the router restarted)", job.attempts - 1
            await self._write(job)

    @property
    def active(self) -> int:
        return len(self.local)

    async def submit(self, job: Job) -> None:
        await self.jobs.save(job)
        self.local[job.job_id] = job
        self._queue.put_nowait(job.job_id)

    async def forget(self, job: Job) -> None:
        """Stops a job of this node if it runs and erases it: its audio and its state (a client deleted it)."""
        task = self._running.get(job.job_id)
        if task is not None:
            self._cancelled.add(job.job_id)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.local.pop(job.job_id, None)  # from here on _write refuses to save it again
        self._saved.pop(job.job_id, None)
        self.spool.remove(job.job_id)
        async with self._locks.setdefault(job.job_id, asyncio.Lock()):  # after any save already under way
            await self.jobs.delete(job.job_id)
        self._locks.pop(job.job_id, None)

    async def _resume(self, job: Job) -> None:
        if job.status == "running" and job.attempts >= self.config.max_attempts:
            await self._end(job, "failed", error={"code": "job_interrupted", "message": f"the router stopped during "
                            f"all {job.attempts} attempts at this job; submit it again"})
        elif not self.spool.path(job.job_id).exists():
            await self._end(job, "failed", error={"code": "audio_lost", "message": "the recording's audio is no "
                            "longer on the router that accepted it; submit it again"})
        else:
            interrupted = job.status == "running"
            job.status, job.progress = "queued", 0.0
            job.stage = "queued (resumed after a router crash)" if interrupted else "queued"
            log.warning("resuming labelling job %s (attempt %d so far)", job.job_id, job.attempts)
            await self.submit(job)

    async def _worker(self) -> None:
        while True:
            job_id = await self._queue.get()
            job = self.local.get(job_id)
            if job is not None and job.status == "queued":
                await self._run(job)

    async def _run(self, job: Job) -> None:
        job.status, job.stage, job.attempts, job.started_at = "running", "starting", job.attempts + 1, time.time()

        def progress(fraction: float, stage: str) -> None:
            job.progress, job.stage = round(fraction, 4), stage

        # Registered before the first await, so a cancel arriving while the state is saved finds the task.
        task = asyncio.create_task(self.pipeline.run(self.spool.path(job.job_id), job.num_speakers, progress))
        self._running[job.job_id] = task
        try:
            await self._save(job)
            result = await task
        except asyncio.CancelledError:
            if job.job_id in self._cancelled:
                return  # cancelled by a client: cancel() ends the job, this worker goes on
            raise  # stop(): the worker ends, stop() puts the job back in the queue
        except AudioError as exc:
            await self._end(job, "failed", error={"code": exc.code, "message": exc.message})
        except BalancerError as exc:
            log.warning("labelling job %s: inference failed: %s", job.job_id, exc)
            await self._end(job, "failed", error={"code": "inference_unavailable", "message": "inference failed "
                            "or no Triton instance was available; submit the recording again"})
        except Exception:  # a bug must fail the job visibly, not leave it running forever
            log.exception("labelling job %s failed", job.job_id)
            await self._end(job, "failed", error={"code": "internal_error", "message": "internal error (see the "
                            "router log)"})
        else:
            job.result = self.finish(job, result.as_dict())
            await self._end(job, "succeeded")
        finally:
            self._running.pop(job.job_id, None)
            self._cancelled.discard(job.job_id)

    async def _end(self, job: Job, status: str, error: dict | None = None) -> None:
        job.status, job.error, job.finished_at = status, error, time.time()
        job.stage = status
        if status == "succeeded":
            job.progress = 1.0
        if not self.config.keep_audio:
            # Before the final save: a client that reads a finished job knows its audio is gone, and a crash in
            # between leaves a job without audio (failed on restart), never audio without a job.
            self.spool.remove(job.job_id)
        await self._write(job)
        self.local.pop(job.job_id, None)
        self._saved.pop(job.job_id, None)
        self._locks.pop(job.job_id, None)

    async def _save(self, job: Job) -> None:
        job.updated_at = time.time()
        await self._write(job)
        self._saved[job.job_id] = (job.updated_at, job.progress)

    async def _write(self, job: Job) -> None:
        async with self._locks.setdefault(job.job_id, asyncio.Lock()):
            if job.active and job.job_id not in self.local:
                return  # forgotten while this save waited: writing it would bring a deleted job back
            await self.jobs.save(job)  # serialises the job as it is now, after any save before it

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.time()
            for job in list(self.local.values()):
                saved_at, saved_progress = self._saved.get(job.job_id, (0.0, -1.0))
                moved = job.status == "running" and job.progress != saved_progress and now - saved_at >= 1.0
                if not (moved or now - saved_at >= self.config.heartbeat_s):
                    continue
                try:
                    stored = await self.jobs.get(job.job_id)
                    if job.active and (stored is None or stored.status == "cancelled"):
                        await self.forget(job)  # deleted through another router (shared Redis state)
                    elif job.active:
                        await self._save(job)
                except Exception:  # a store outage delays saves (the next tick retries); it must not stop them
                    log.warning("could not save labelling job %s", job.job_id, exc_info=True)
