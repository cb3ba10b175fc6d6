"""What the fast VoiceprintService tests build on: a real MemoryStore, a real Admission, real metrics and audit,
and ONE test double, the scripted embedder standing in for the Triton pool.

The double is there for speed only (milliseconds instead of a Triton inference): it returns the vectors a test
scripts, so every score is known exactly. It replaces nothing in the integration tests (test_decisions.py,
test_api.py, test_observability.py), which keep the real router, pool and Triton.
"""
from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf

from audio import AudioLimits
from router.admission import Admission
from router.config import OverloadConfig, VerifyConfig
from router.logs import AUDIT_LOGGER, AuditLog
from router.metrics import RouterMetrics
from router.service import VoiceprintService

DIM = 8
MODEL_INFO = {"id": "scripted", "name": "scripted-embedder", "embedding_dim": DIM, "recommended_threshold": 0.61}
CLIP_SAMPLES = 12_000   # 0.75 s at 16 kHz: under the default 1 s minimum, so the service's own limits must apply
LIMITS = AudioLimits(min_seconds=0.5, max_seconds=5.0)


def clip_bytes(samples: int = CLIP_SAMPLES) -> bytes:
    """A real 16 kHz WAV (noise: not silent), decoded for real by the service."""
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, samples).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, noise, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def axis(i: int, scale: float = 1.0) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = scale
    return v


def voice(*cosines: float) -> np.ndarray:
    """A unit vector whose cosine with axis(i) is cosines[i] (the rest of its length on the last axis)."""
    v = np.zeros(DIM, dtype=np.float64)
    v[:len(cosines)] = cosines
    v[-1] = np.sqrt(1.0 - float(np.sum(v ** 2)))
    return v.astype(np.float32)


class ScriptedEmbedder:
    """Test double for router.balancer.pool.TritonPool: `embed` returns the next scripted vector.

    Records every call (samples, timeout_s); `during` runs inside embed (e.g. to spend the request's deadline).
    """

    def __init__(self, info: dict | None = None):
        self.info = dict(MODEL_INFO if info is None else info)
        self.script: list[np.ndarray] = []
        self.calls: list[tuple[int, float | None]] = []
        self.during = None

    async def embed(self, waveform: np.ndarray, timeout_s: float | None = None) -> np.ndarray:
        self.calls.append((int(waveform.size), timeout_s))
        if self.during is not None:
            self.during()
        return self.script.pop(0)

    def model_info(self) -> dict:
        return dict(self.info)


class CountingExecutor(ThreadPoolExecutor):
    """A real thread pool that counts what it runs (decodes must run on the router's own decode threads)."""

    def __init__(self):
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def build_service(store, embedder: ScriptedEmbedder, executor: CountingExecutor, **verify) -> VoiceprintService:
    metrics = RouterMetrics()
    admission = Admission(OverloadConfig(adaptive=True), decode_workers=1, metrics=metrics)
    verify.setdefault("threshold", 0.5)
    return VoiceprintService(embedder, store, executor, admission, LIMITS, VerifyConfig(**verify), metrics,
                             AuditLog())


def audit_records(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if r.name == AUDIT_LOGGER]


def sample(service: VoiceprintService, name: str, labels: dict | None = None) -> float | None:
    return service.metrics.registry.get_sample_value(name, labels or {})


def capture_audit(caplog) -> None:
    """Audit records from now on (an earlier test may have left the audit logger at INFO already)."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    caplog.clear()
