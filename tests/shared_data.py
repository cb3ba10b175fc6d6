"""Access to the real speech in ../shared/audio (skips cleanly when it is absent)."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SHARED = Path(os.environ.get("VOIMID_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
AUDIO = SHARED / "audio"
SPEAKERS_CSV = AUDIO / "speakers.csv"


@dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str
    lang: str
    seconds: float

    def load(self) -> np.ndarray:
        audio, rate = sf.read(self.path, dtype="float32", always_2d=True)
        assert rate == 16000, f"{self.path} is {rate} Hz"
        return audio.mean(axis=1)


def utterances() -> list[Utterance]:
    if not SPEAKERS_CSV.exists():
        pytest.skip(f"real speech not available: {SPEAKERS_CSV} is missing (../shared beside the project)")
    with SPEAKERS_CSV.open() as handle:
        return [Utterance(AUDIO / row["file"], row["speaker"], row["lang"], float(row["seconds"]))
                for row in csv.DictReader(handle)]


def real_weights() -> Path | None:
    """Pretrained CAM++ weights, if an operator put any in ../shared/models or VOIMID_MODEL_PATH."""
    configured = os.environ.get("VOIMID_MODEL_PATH")
    if configured and Path(configured).exists():
        return Path(configured)
    models = SHARED / "models"
    if models.is_dir():
        for pattern in ("*.onnx", "*.bin", "*.pt"):
            found = sorted(models.glob(pattern))
            if found:
                return found[0]
    return None
