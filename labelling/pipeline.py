"""Who spoke when in one recording: speech regions (VAD), window embeddings, clustering, turns, enrolled names.

No HTTP here: the router's job runner, `vomid label` and the benchmark call `LabelPipeline.run` with their own
backends (labelling.backends). Progress is reported as a fraction with a stage name; cancelling the task stops it.

Memory for a recording of S seconds (beyond the interpreter and the models): one decoded block and one VAD chunk
(< 4 MB), the VAD probabilities (S / 0.032 float32: 0.9 MB for 2 h), the planned windows and their embeddings
(S / hop x D float32: 19.7 MB for 2 h of speech at D = 512), the batches in flight (in_flight x batch_size x
window float32: 6 MB by default) and the clustering (about 5 x max_points^2 float64: 90 MB at 1500).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np

import audio
from labelling import clustering, passes, segments
from labelling.backends import SpeakerMatcher, VadBackend, WindowEmbedder
from labelling.naming import name_speakers
from labelling.result import LabelResult, Segment, Speaker
from labelling.settings import LabelSettings
from labelling.speech import speech_regions
from labelling.windows import plan_windows

Progress = Callable[[float, str], None]
# Share of the progress bar each stage fills (measured: embedding dominates, decoding + VAD is most of the rest).
DETECT, EMBED = 0.3, 0.65
RATE = audio.TARGET_RATE


class LabelPipeline:
    def __init__(self, vad: VadBackend, embedder: WindowEmbedder, settings: LabelSettings | None = None,
                 matcher: SpeakerMatcher | None = None, max_seconds: float = 7200.0):
        self.vad, self.embedder, self.matcher = vad, embedder, matcher
        self.settings = settings or LabelSettings()
        self.limits = audio.AudioLimits(min_seconds=0.0, max_seconds=max_seconds, silence_rms=0.0)

    async def run(self, path: Path, num_speakers: int | None = None,
                  progress: Progress | None = None) -> LabelResult:
        report = progress or (lambda fraction, stage: None)
        settings = self.settings
        report(0.0, "detecting speech")
        probs, length = await passes.speech_probabilities(
            path, self.limits, self.vad, settings.vad_chunk_windows, lambda f: report(DETECT * f, "detecting speech"))
        regions = speech_regions(probs, length, settings.vad)
        windows = plan_windows(regions, int(settings.window_s * RATE), int(settings.hop_s * RATE),
                               int(settings.min_window_s * RATE))
        report(DETECT, "embedding")
        embeddings = await passes.window_embeddings(
            path, self.limits, windows, self.embedder, settings.batch_size, settings.in_flight,
            lambda f: report(DETECT + EMBED * f, "embedding"))
        report(DETECT + EMBED, "clustering")
        labels = await asyncio.to_thread(clustering.cluster, embeddings, settings.cluster, num_speakers)
        turns = segments.turns(regions, windows, labels)
        report(0.97, "matching enrolled speakers")
        centres = clustering.centroids(embeddings, labels) if labels.size else np.zeros((0, 0))
        speakers = await name_speakers(centres, turns, self.matcher)
        result = LabelResult(
            duration_s=round(length / RATE, 3), speech_s=round(sum(e - s for s, e in regions) / RATE, 3),
            windows=len(windows), speakers=list({id(s): s for s in speakers.values()}.values()),
            segments=[_segment(turn, speakers[turn.speaker]) for turn in turns])
        report(1.0, "done")
        return result


def _segment(turn: segments.Turn, speaker: Speaker) -> Segment:
    return Segment(start=round(turn.start / RATE, 3), end=round(turn.end / RATE, 3), label=speaker.label,
                   user_id=speaker.user_id, name=speaker.name, score=speaker.score)
