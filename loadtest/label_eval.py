"""Scores a labelling against a meeting's truth: speech/non-speech agreement with a collar, and DER.

DER comes from pyannote.metrics (missed speech, false alarm, confusion, with its optimal speaker mapping).
"""
from __future__ import annotations

import numpy as np

FRAME_S = 0.01


def speech_agreement(truth: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, str]],
                     duration: float, collar: float = 0.1) -> float:
    """Share of the recording's time (10 ms frames) where speech/non-speech agrees, outside `collar` seconds
    around every truth boundary."""
    frames = int(np.ceil(duration / FRAME_S))
    reference, found, scored = (np.zeros(frames, bool), np.zeros(frames, bool), np.ones(frames, bool))
    for start, end, _ in truth:
        reference[_frame(start):_frame(end)] = True
        for edge in (start, end):
            scored[_frame(edge - collar):_frame(edge + collar)] = False
    for start, end, _ in hypothesis:
        found[_frame(start):_frame(end)] = True
    return float(np.mean(reference[scored] == found[scored])) if scored.any() else 1.0


def diarization_error(truth: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, str]],
                      collar: float = 0.25) -> dict[str, float]:
    """DER and its parts as shares of the truth's speech time (pyannote.metrics, `collar` seconds in total)."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, found = Annotation(), Annotation()
    for index, (start, end, speaker) in enumerate(truth):
        reference[Segment(start, end), index] = speaker
    for index, (start, end, speaker) in enumerate(hypothesis):
        found[Segment(start, end), index] = speaker
    extent = max([end for _, end, _ in truth + hypothesis] or [0.0])
    detail = DiarizationErrorRate(collar=collar)(reference, found, detailed=True, uem=_uem(extent))
    total = detail["total"] or 1.0
    return {"der": detail["diarization error rate"], "missed": detail["missed detection"] / total,
            "false_alarm": detail["false alarm"] / total, "confusion": detail["confusion"] / total,
            "speech_s": detail["total"]}


def _uem(extent: float):
    from pyannote.core import Segment, Timeline

    return Timeline([Segment(0.0, extent)])


def _frame(seconds: float) -> int:
    return max(0, int(round(seconds / FRAME_S)))
