"""Synthetic meetings from real speech (../shared/audio), with known truth, for the labelling tests and benchmark.

Speakers take turns of 2-20 s (one utterance, or several of the same speaker joined, cut to length), separated by
short pauses of faint noise. The truth of who speaks when: each placed utterance's speech regions as Silero's
reference finds them on the utterance alone (so pauses inside an utterance are not speech), labelled with its
speaker. Turn edges are exact; only where speech starts and stops inside an utterance comes from the reference.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.vad import SileroVad
from labelling.speech import VadParams, speech_regions

RATE = 16000


@dataclass(frozen=True)
class Clip:
    path: Path
    speaker: str
    seconds: float


@dataclass
class Meeting:
    waveform: np.ndarray
    truth: list[tuple[float, float, str]]  # (start s, end s, speaker), speech only
    turns: list[tuple[float, float, str]]  # (start s, end s, speaker) of each turn, pauses excluded
    speakers: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.waveform.size / RATE

    def write(self, path: Path, fmt: str = "FLAC") -> Path:
        sf.write(path, self.waveform, RATE, format=fmt, subtype="PCM_16")
        return path


def read_clips(audio_dir: Path) -> list[Clip]:
    with (audio_dir / "speakers.csv").open() as handle:
        return [Clip(audio_dir / row["file"], row["speaker"], float(row["seconds"])) for row in csv.DictReader(handle)]


def speakers_with_audio(clips: list[Clip], min_seconds: float = 30.0) -> list[str]:
    """Speakers with at least `min_seconds` of speech, most first (ties by name, so runs are repeatable)."""
    totals: dict[str, float] = {}
    for clip in clips:
        totals[clip.speaker] = totals.get(clip.speaker, 0.0) + clip.seconds
    return sorted((s for s, t in totals.items() if t >= min_seconds), key=lambda s: (-totals[s], s))


def build_meeting(clips: list[Clip], speakers: list[str], seconds: float, vad: SileroVad, seed: int = 0,
                  pause_s: tuple[float, float] = (0.3, 1.5), turn_s: tuple[float, float] = (2.0, 20.0),
                  params: VadParams = VadParams()) -> Meeting:
    rng = np.random.default_rng(seed)
    pool = {s: [c for c in clips if c.speaker == s] for s in speakers}
    cursor = {s: int(rng.integers(len(pool[s]))) for s in speakers}
    pieces, truth, turns, position, last = [], [], [], 0, None
    while position < seconds * RATE:
        speaker = str(rng.choice([s for s in speakers if s != last] or speakers))
        pause = (rng.standard_normal(int(rng.uniform(*pause_s) * RATE)) * 1e-4).astype(np.float32)
        pieces.append(pause)
        position += pause.size
        target, start = int(rng.uniform(*turn_s) * RATE), position
        while position - start < target:
            clip = pool[speaker][cursor[speaker] % len(pool[speaker])]
            cursor[speaker] += 1
            samples = _load(clip.path)[: target - (position - start)]
            if samples.size < RATE // 2:
                break
            found = speech_regions(vad.probabilities(samples), samples.size, params)
            truth += [((position + a) / RATE, (position + b) / RATE, speaker) for a, b in found]
            pieces.append(samples)
            position += samples.size
        turns.append((start / RATE, position / RATE, speaker))
        last = speaker
    return Meeting(np.concatenate(pieces), truth, turns, speakers)


def _load(path: Path) -> np.ndarray:
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != RATE:
        raise ValueError(f"{path}: {rate} Hz, the shared speech is 16 kHz")
    return samples.mean(axis=1)
