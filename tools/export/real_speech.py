"""Real speech for the export self-checks: the LibriSpeech utterance shipped in tools/export/speech/.

Random features are fine to test that a graph runs, but a network and its export can agree on noise and still
disagree on speech (batch-norm statistics, LSTM saturation), so parity is checked on speech at the served lengths.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from engine.contract import SAMPLE_RATE
from tools.export.errors import ExportError

SPEECH_FILE = Path(__file__).with_name("speech") / "1998-15444-0002.flac"
CHECK_SECONDS = (1, 3, 10, 30)


def load_speech(path: Path = SPEECH_FILE) -> np.ndarray:
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:  # soundfile raises LibsndfileError (a RuntimeError) for bad files
        raise ExportError(f"the self-check speech {path} cannot be read ({exc}): reinstall the package") from None
    if rate != SAMPLE_RATE:
        raise ExportError(f"the self-check speech {path} is {rate} Hz, not {SAMPLE_RATE}")
    return audio.mean(axis=1)


def speech_of_lengths(seconds: tuple[float, ...] = CHECK_SECONDS, speech: np.ndarray | None = None) -> list[np.ndarray]:
    """The utterance cut to each length; repeated end to end where it is shorter (still speech, never silence)."""
    speech = load_speech() if speech is None else speech
    longest = int(max(seconds) * SAMPLE_RATE)
    repeated = np.tile(speech, -(-longest // len(speech)))
    return [repeated[: int(s * SAMPLE_RATE)].copy() for s in seconds]
