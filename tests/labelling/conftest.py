"""Labelling fixtures: the Silero model from the package and real speech with inserted silences."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from engine.vad import SileroVad
from labelling.speech import speech_regions
from tests.shared_data import utterances


@dataclass
class SpacedSpeech:
    """Utterances joined with inserted silences: `truth` is each utterance's speech (Silero's reference on the
    utterance alone), `silences` the inserted spans, both in samples of `waveform`."""

    waveform: np.ndarray
    truth: list[tuple[int, int]]
    silences: list[tuple[int, int]]


@pytest.fixture(scope="session")
def silero_path():
    pytest.importorskip("silero_vad", reason="silero-vad (the export extra) ships the VAD model")
    from tools.export.vad import silero_onnx

    return silero_onnx()[0]


@pytest.fixture(scope="session")
def vad(silero_path) -> SileroVad:
    return SileroVad(silero_path)


@pytest.fixture(scope="session")
def spaced_speech(vad) -> SpacedSpeech:
    rng = np.random.default_rng(3)
    pieces, truth, silences, position = [], [], [], 0
    for utt in utterances()[::2]:
        clip = utt.load()
        gap = (rng.standard_normal(int(rng.uniform(0.3, 2.0) * 16000)) * 1e-4).astype(np.float32)
        silences.append((position, position + gap.size))
        position += gap.size
        truth += [(position + s, position + e) for s, e in speech_regions(vad.probabilities(clip), clip.size)]
        pieces += [gap, clip]
        position += clip.size
    return SpacedSpeech(np.concatenate(pieces), truth, silences)
