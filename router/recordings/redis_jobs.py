"""Labelling jobs in Redis: every router of a deployment sees every job (status, progress, result).

A job is one JSON string at `<prefix>:rec:job:<id>`; finished ones carry a TTL. Each node's active jobs are also in
the set `<prefix>:rec:node:<node>`, which is what it resumes from after a restart.
"""
from __future__ import annotations

import functools

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.recordings.jobs import JOB_ID, Job, JobStore
from store.errors import StorageUnavailable


def _guarded(method):
    """A Redis outage is StorageUnavailable (503 with Retry-After), never a 500."""
    @functools.wraps(method)
    async def run(*args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"the job store (Redis) is unavailable: {exc}") from None
    return run


class RedisJobStore(JobStore):
    def __init__(self, redis: Redis, prefix: str, ttl_s: float):
        self.redis, self.ttl_s = redis, ttl_s
        self.prefix = f"{prefix}:rec"

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _node(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    @_guarded
    async def save(self, job: Job) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if job.active:
                pipe.set(self._key(job.job_id), job.to_json())
                pipe.sadd(self._node(job.node), job.job_id)
            else:
                pipe.set(self._key(job.job_id), job.to_json(), ex=max(1, int(self.ttl_s)))
                pipe.srem(self._node(job.node), job.job_id)
            await pipe.execute()

    @_guarded
    async def get(self, job_id: str) -> Job | None:
        if not JOB_ID.match(job_id):
            return None
        raw = await self.redis.get(self._key(job_id))
        return Job.from_json(raw) if raw is not None else None

    @_guarded
    async def delete(self, job_id: str) -> None:
        job = await self.get(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(job_id))
            if job is not None:
                pipe.srem(self._node(job.node), job_id)
            await pipe.execute()

    @_guarded
    async def active_on(self, node: str) -> list[Job]:
        jobs = []
        for job_id in await self.redis.smembers(self._node(node)):
            job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
            job = await self.get(job_id)
            if job is None or not job.active:
                await self.redis.srem(self._node(node), job_id)
            else:
                jobs.append(job)
        return sorted(jobs, key=lambda j: j.created_at)
