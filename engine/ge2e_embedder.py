"""GE2E utterance embeddings: every partial window through the ONNX LSTM, then Resemblyzer's average.

All partial windows have the same length (160 frames), so the exact-length grouping of OnnxEmbedder puts the
windows of every request in one group, cut only by the frame budget: padding never enters the network.
The utterance embedding is the L2-normalised mean of its windows' unit embeddings (VoiceEncoder.embed_utterance).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.embedder import EmbedderConfig, OnnxEmbedder

_EPS = 1e-12


class Ge2eEmbedder:
    def __init__(self, model_path: Path | str, config: EmbedderConfig | None = None):
        self.windows = OnnxEmbedder(model_path, config)
        self.embedding_dim = self.windows.embedding_dim

    def embed_many(self, items: list[np.ndarray]) -> list[np.ndarray]:
        """Each item: (P_i, 160, 40) partial windows of one utterance -> one (D,) unit embedding per item."""
        return [average(partials) for partials in self.windows.embed_many(items)]


def average(partial_embeddings: np.ndarray) -> np.ndarray:
    mean = partial_embeddings.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), _EPS)).astype(np.float32)
