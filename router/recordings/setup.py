"""Wires speaker labelling into the app: job store, spool, pipeline over the pool and store, runner, routes."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from labelling.naming import StoreMatcher
from labelling.pipeline import LabelPipeline
from router import state
from router.config import RouterConfig
from router.errors import ConfigError
from router.recordings import api
from router.recordings.backends import PoolEmbedder, PoolVad
from router.recordings.jobs import FileJobStore, JobStore
from router.recordings.redis_jobs import RedisJobStore
from router.recordings.runner import JobRunner
from router.recordings.service import RecordingService
from router.recordings.spool import Spool


def add_recordings(app: web.Application, config: RouterConfig) -> None:
    settings = config.recordings
    folder = Path(settings.spool_dir)
    try:
        spool = Spool(folder, settings.max_upload_bytes, int(settings.min_free_mb * 1024 * 1024))
        node = spool.node_id()
    except OSError as exc:
        raise ConfigError(f"recordings.spool_dir: cannot use {folder}: {exc.strerror} (mount a writable volume "
                          "there, or set recordings.enabled: false)") from None
    use_redis = settings.job_store == "redis" or settings.job_store == "auto" and config.storage.type == "redis"
    jobs: JobStore = (RedisJobStore(app[state.REDIS], config.storage.redis_prefix, settings.result_ttl_s) if use_redis
                      else FileJobStore(folder / "jobs", settings.result_ttl_s))
    service = RecordingService(settings, jobs, spool, node, config.verify.score_decimals)
    app[api.RECORDINGS] = service
    app.cleanup_ctx.append(_runner_ctx)
    api.add_routes(app)


async def _runner_ctx(app: web.Application) -> AsyncIterator[None]:
    """Starts after the pool and the store are open (the runner resumes jobs at once); stops before they close."""
    config, service = app[state.CONFIG], app[api.RECORDINGS]
    pool, store = app[state.POOL], app[state.STORE]
    matcher = StoreMatcher(store, lambda: app[state.SERVICE].threshold)  # the decision threshold of verify
    pipeline = LabelPipeline(PoolVad(pool, config.recordings.vad_model), PoolEmbedder(pool),
                             config.recordings.label_settings(), matcher, max_seconds=config.recordings.max_seconds)
    service.runner = JobRunner(service.jobs, service.spool, pipeline, config.recordings, service.node,
                               service.finish)
    await service.runner.start()
    yield
    await service.runner.stop()
    await service.jobs.close()
