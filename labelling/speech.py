"""Speech regions from Silero VAD probabilities, with the thresholds and durations of Silero's own
`get_speech_timestamps` (its `get_speech_timestamps_from_probs`, for `max_speech_duration_s=inf`).

A region opens at the first window with probability >= `threshold`, closes once the probability has stayed below
`neg_threshold` for `min_silence_ms`, is dropped when not longer than `min_speech_ms`, and is padded by
`speech_pad_ms` each side (neighbours closer than twice the pad meet half way). Positions are 16 kHz samples.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.vad import FRAME, SAMPLE_RATE


@dataclass(frozen=True)
class VadParams:
    threshold: float = 0.5
    neg_threshold: float | None = None  # None: threshold - 0.15 (at least 0.01), as Silero
    min_speech_ms: float = 250.0
    min_silence_ms: float = 100.0
    speech_pad_ms: float = 30.0

    def validate(self, prefix: str = "vad.") -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"{prefix}threshold: must be in (0, 1)")
        if self.neg_threshold is not None and not 0.0 < self.neg_threshold <= self.threshold:
            raise ValueError(f"{prefix}neg_threshold: must be in (0, threshold]")
        for name in ("min_speech_ms", "min_silence_ms", "speech_pad_ms"):
            if not 0.0 <= getattr(self, name) <= 10_000:
                raise ValueError(f"{prefix}{name}: must be 0-10000")

    @property
    def exit_threshold(self) -> float:
        return max(self.threshold - 0.15, 0.01) if self.neg_threshold is None else self.neg_threshold


def speech_regions(probs, length: int, params: VadParams = VadParams()) -> list[tuple[int, int]]:
    """Per-window probabilities of a stream of `length` samples -> [(start, end)] sample positions of speech."""
    raw = _detect(probs, length, params)
    return _pad(raw, length, SAMPLE_RATE * params.speech_pad_ms / 1000)


def _detect(probs, length: int, params: VadParams) -> list[list[float]]:
    min_speech = SAMPLE_RATE * params.min_speech_ms / 1000
    min_silence = SAMPLE_RATE * params.min_silence_ms / 1000
    exit_threshold = params.exit_threshold
    regions: list[list[float]] = []
    start: int | None = None
    temp_end = 0  # where the current silence began (0: none), tolerated until it lasts min_silence
    for index, prob in enumerate(probs):
        sample = FRAME * index
        if prob >= params.threshold:
            temp_end = 0
            if start is None:
                start = sample
                continue
        if start is not None and prob < exit_threshold:
            if not temp_end:
                temp_end = sample
            if sample - temp_end < min_silence:
                continue
            if temp_end - start > min_speech:
                regions.append([start, temp_end])
            start, temp_end = None, 0
    if start is not None and length - start > min_speech:
        regions.append([start, length])
    return regions


def _pad(regions: list[list[float]], length: int, pad: float) -> list[tuple[int, int]]:
    """Silero's padding, operation for operation (its int() truncations included)."""
    for i, region in enumerate(regions):
        if i == 0:
            region[0] = int(max(0, region[0] - pad))
        if i != len(regions) - 1:
            gap = regions[i + 1][0] - region[1]
            if gap < 2 * pad:
                region[1] += int(gap // 2)
                regions[i + 1][0] = int(max(0, regions[i + 1][0] - gap // 2))
            else:
                region[1] = int(min(length, region[1] + pad))
                regions[i + 1][0] = int(max(0, regions[i + 1][0] - pad))
        else:
            region[1] = int(min(length, region[1] + pad))
    return [(int(s), int(e)) for s, e in regions]
