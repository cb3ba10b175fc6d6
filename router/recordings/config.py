"""The `recordings:` section of the router's configuration: speaker labelling jobs, their limits, the pipeline.

Part of the one typed configuration (router.config loads it with the other sections and its env overrides).
"""
from __future__ import annotations

from dataclasses import dataclass

from router.errors import ConfigError

JOB_STORES = ("auto", "file", "redis")


@dataclass
class RecordingsConfig:
    """Speaker labelling of long recordings (POST /api/v1/recordings): jobs, their limits, the pipeline's knobs."""
    enabled: bool = True
    # Uploads are spooled here (audio/), and job state too when it is kept in files (jobs/).
    spool_dir: str = "./var/recordings"
    max_upload_mb: float = 200.0
    max_seconds: float = 7200.0
    # Keep the spooled audio after its job ends (default: deleted at once, whatever the outcome).
    keep_audio: bool = False
    # Jobs running at once on this router, and jobs accepted (queued or running) before 503.
    workers: int = 1
    max_jobs: int = 8
    # Uploads being received at once, and how long one may take.
    max_uploads: int = 4
    upload_timeout_s: float = 900.0
    # Uploads are refused while the spool's disk has less free space than this.
    min_free_mb: float = 512.0
    # auto: in Redis when the store is (every router sees every job), else files in spool_dir/jobs.
    job_store: str = "auto"
    # A finished job (and its result) is forgotten after this.
    result_ttl_s: float = 7 * 86400.0
    # A running job is re-saved at least this often; one unsaved for stale_after_s lost its router.
    heartbeat_s: float = 10.0
    stale_after_s: float = 120.0
    # A job interrupted by a router crash is started again on restart, at most this many times in all.
    max_attempts: int = 2
    # The pipeline (labelling.settings): windows, batching, VAD and clustering.
    window_s: float = 1.5
    hop_s: float = 0.75
    batch_size: int = 16
    in_flight: int = 4
    max_speakers: int = 10
    vad_threshold: float = 0.5
    vad_min_silence_ms: float = 100.0
    vad_model: str = "vad"

    def validate(self) -> None:
        _check(bool(self.spool_dir), "recordings.spool_dir", "must not be empty")
        _check(0 < self.max_upload_mb <= 10_240, "recordings.max_upload_mb", "must be in (0, 10240]")
        _check(1 <= self.max_seconds <= 86_400, "recordings.max_seconds", "must be 1-86400")
        _check(1 <= self.workers <= 64, "recordings.workers", "must be 1-64")
        _check(self.workers <= self.max_jobs <= 10_000, "recordings.max_jobs", "must be workers..10000")
        _check(1 <= self.max_uploads <= 1000, "recordings.max_uploads", "must be 1-1000")
        _check(1 <= self.upload_timeout_s <= 86_400, "recordings.upload_timeout_s", "must be 1-86400")
        _check(0 <= self.min_free_mb <= 10**7, "recordings.min_free_mb", "must be >= 0")
        _check(self.job_store in JOB_STORES, "recordings.job_store", f"must be one of {', '.join(JOB_STORES)}")
        _check(60 <= self.result_ttl_s <= 365 * 86400, "recordings.result_ttl_s", "must be 60 s to 365 days")
        _check(0.1 <= self.heartbeat_s <= 3600, "recordings.heartbeat_s", "must be 0.1-3600")
        _check(self.stale_after_s >= 3 * self.heartbeat_s, "recordings.stale_after_s",
               "must be at least 3 x recordings.heartbeat_s")
        _check(1 <= self.max_attempts <= 10, "recordings.max_attempts", "must be 1-10")
        _check(bool(self.vad_model), "recordings.vad_model", "must not be empty")
        try:
            self.label_settings().validate("recordings.")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def label_settings(self):
        from labelling.settings import ClusterSettings, LabelSettings
        from labelling.speech import VadParams

        return LabelSettings(window_s=self.window_s, hop_s=self.hop_s, batch_size=self.batch_size,
                             in_flight=self.in_flight,
                             vad=VadParams(threshold=self.vad_threshold, min_silence_ms=self.vad_min_silence_ms),
                             cluster=ClusterSettings(max_speakers=self.max_speakers))


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {why}")
