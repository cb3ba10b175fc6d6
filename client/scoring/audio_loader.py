"""Reads one audio file of a trial list as 16 kHz mono float32, through the project's one decoder (`audio`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from audio import AudioError, AudioLimits, decode
from client.scoring.errors import AudioLoadError

# Trial lists hold utterances of any length, silence included: the model itself refuses what it cannot embed.
SCORING_LIMITS = AudioLimits(min_seconds=0.01, max_seconds=600.0, silence_rms=0.0)


def load_waveform(path: Path, limits: AudioLimits = SCORING_LIMITS) -> np.ndarray:
    try:
        return decode(Path(path), limits)
    except AudioError as exc:
        raise AudioLoadError(f"{path}: cannot decode: {exc.message}") from None
