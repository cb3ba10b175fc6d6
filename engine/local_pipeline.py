"""Waveform -> embedding in this process, with the same code the Triton models run, for either model family.

For the export's self-checks and calibration, and the benchmarks' in-process baseline: one place that knows which
front end goes with which embedding graph.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.contract import GE2E, family
from engine.embedder import EmbedderConfig, OnnxEmbedder
from engine.features import FbankExtractor


class LocalPipeline:
    def __init__(self, model_name: str, onnx_path: Path | str, config: EmbedderConfig | None = None):
        self.family = family(model_name)
        if self.family is GE2E:
            from engine.ge2e_embedder import Ge2eEmbedder
            from engine.ge2e_mel import Ge2eFrontEnd

            self._front_end, self._embedder = Ge2eFrontEnd(), Ge2eEmbedder(onnx_path, config)
        else:
            extractor = FbankExtractor()
            self._front_end, self._embedder = (lambda wave: extractor(wave)[None]), OnnxEmbedder(onnx_path, config)
        self.embedding_dim = self._embedder.embedding_dim

    def embed_many(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """One (D,) unit embedding per 16 kHz waveform; the embedding graph runs once for the whole list."""
        embedded = self._embedder.embed_many([self._front_end(wave) for wave in waves])
        return [e.reshape(-1) for e in embedded]

    def embed(self, wave: np.ndarray) -> np.ndarray:
        return self.embed_many([wave])[0]
