"""The recommended cosine threshold of an exported model: its EER threshold on the shared speech, when present.

The shared speech (`../shared/audio`, listed in speakers.csv; or VOIMID_SHARED) is what the project's accuracy tests
use. Every pair of its utterances is a trial; the threshold is where misses and false accepts meet, computed with
the project's own scoring code (client.scoring.metrics). Where the speech is absent, the caller records a
documented constant instead and says so in the manifest.
"""
from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

import settings.env
from client.scoring.metrics import det_curve, equal_error_rate
from engine.contract import SAMPLE_RATE

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Calibration:
    threshold: float
    eer: float
    utterances: int
    trials: int

    def describe(self, where: Path) -> str:
        return (f"EER threshold on {where} ({self.utterances} utterances, {self.trials} trials, "
                f"EER {self.eer:.2%}) at export")


def shared_audio() -> Path | None:
    """The speakers.csv of the shared speech, if this checkout or VOIMID_SHARED has one."""
    shared = settings.env.variable("SHARED")
    base = Path(shared) if shared else PROJECT_ROOT.parent / "shared"
    listing = base / "audio" / "speakers.csv"
    return listing if listing.is_file() else None


def load_listing(listing: Path) -> list[tuple[np.ndarray, str]]:
    """(16 kHz mono waveform, speaker) of every listed utterance at 16 kHz."""
    clips = []
    with listing.open() as handle:
        for row in csv.DictReader(handle):
            audio, rate = sf.read(listing.parent / row["file"], dtype="float32", always_2d=True)
            if rate == SAMPLE_RATE:
                clips.append((audio.mean(axis=1), row["speaker"]))
    return clips


def trial_scores(embeddings: np.ndarray, speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of all same-speaker pairs and of all different-speaker pairs (embeddings are unit vectors)."""
    targets, nontargets = [], []
    for i, j in itertools.combinations(range(len(speakers)), 2):
        (targets if speakers[i] == speakers[j] else nontargets).append(float(embeddings[i] @ embeddings[j]))
    return np.array(targets), np.array(nontargets)


def calibrate(embed: Callable[[np.ndarray], np.ndarray], clips: list[tuple[np.ndarray, str]]) -> Calibration:
    embeddings = np.stack([embed(wave) for wave, _ in clips])
    speakers = [speaker for _, speaker in clips]
    targets, nontargets = trial_scores(embeddings, speakers)
    point = equal_error_rate(det_curve(targets, nontargets))
    return Calibration(threshold=point.threshold, eer=point.value, utterances=len(clips),
                       trials=len(targets) + len(nontargets))


def recommended_threshold(embed: Callable[[np.ndarray], np.ndarray], fallback: float,
                          fallback_source: str) -> tuple[float, str]:
    """(threshold, how it was obtained): calibrated on the shared speech when present, else the fallback."""
    listing = shared_audio()
    if listing is None:
        log.info("no shared speech to calibrate on: recording %s", fallback_source)
        return fallback, fallback_source
    result = calibrate(embed, load_listing(listing))
    log.info("calibrated threshold %.4f (EER %.2f%% over %d trials)", result.threshold, 100 * result.eer, result.trials)
    return round(result.threshold, 4), result.describe(listing.parent)
