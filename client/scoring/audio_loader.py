"""Reads one audio file of any format libsndfile decodes as 16 kHz mono float32 (soxr resamples other rates)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from client.scoring.errors import AudioLoadError

TARGET_RATE = 16000


def load_waveform(path: Path, rate: int = TARGET_RATE) -> np.ndarray:
    try:
        samples, source_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioLoadError(f"{path}: cannot decode: {exc}") from None
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if source_rate != rate:
        mono = soxr.resample(mono, source_rate, rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
