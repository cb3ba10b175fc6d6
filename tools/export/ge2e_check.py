"""The GE2E export's self-check: the served pipeline against Resemblyzer's own, on real speech at 1-30 s.

Reference: `VoiceEncoder(weights).embed_utterance(preprocess_wav(wave, 16000))` (PyTorch, librosa, webrtcvad).
Served: engine.local_pipeline (Ge2eFrontEnd + Ge2eEmbedder) on the exported ONNX graph, the code the Triton
models run. Any difference in preprocessing, mel settings, windowing, averaging or the graph shows here.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.contract import GE2E, SAMPLE_RATE
from engine.local_pipeline import LocalPipeline
from tools.export.errors import ExportError, ParityError
from tools.export.onnx_export import MIN_COSINE
from tools.export.real_speech import CHECK_SECONDS, speech_of_lengths

log = logging.getLogger(__name__)


def resemblyzer_reference(weights: Path):
    """wave -> Resemblyzer's embedding of it; ExportError when Resemblyzer's own pipeline cannot be imported."""
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
    except Exception as exc:  # ImportError, or webrtcvad 2.0.10's wrapper failing on a missing pkg_resources
        raise ExportError(f"the GE2E self-check needs Resemblyzer's own pipeline (pip install 'edge-vomid[export]'; "
                          f"webrtcvad-wheels provides a webrtcvad without pkg_resources): "
                          f"{type(exc).__name__}: {exc}") from None
    encoder = VoiceEncoder("cpu", verbose=False, weights_fpath=weights)
    return lambda wave: encoder.embed_utterance(preprocess_wav(wave, SAMPLE_RATE))


def served_pipeline(onnx_path: Path):
    return LocalPipeline(GE2E.name, onnx_path).embed


def check_against_resemblyzer(onnx_path: Path, weights: Path, waves: list[np.ndarray] | None = None) -> list[float]:
    """Cosine per length between served and reference embeddings; ParityError below MIN_COSINE."""
    reference, served = resemblyzer_reference(weights), served_pipeline(onnx_path)
    waves = speech_of_lengths() if waves is None else waves
    cosines = [float(np.dot(reference(w), served(w))) for w in waves]
    seconds = [round(len(w) / SAMPLE_RATE, 1) for w in waves]
    log.info("GE2E served vs Resemblyzer cosine at %s s: %s", seconds, [round(c, 7) for c in cosines])
    if min(cosines) < MIN_COSINE:
        raise ParityError(f"the served GE2E pipeline differs from Resemblyzer's: cosine {min(cosines):.6f} < "
                          f"{MIN_COSINE} (per length {seconds} s: {cosines})")
    return cosines


__all__ = ["check_against_resemblyzer", "CHECK_SECONDS"]
