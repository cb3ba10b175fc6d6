"""Exact-length grouping in engine.embedder: batching never changes an embedding."""
from __future__ import annotations

import numpy as np
import pytest

from engine.embedder import EmbedderConfig, OnnxEmbedder
from tools.export.repository import EMBEDDING_MODEL


@pytest.fixture(scope="module")
def onnx_path(model_repository):
    return model_repository / EMBEDDING_MODEL / "1" / "model.onnx"


def _features(rng, frames: int, rows: int = 1) -> np.ndarray:
    feats = rng.normal(0, 3, size=(rows, frames, 80)).astype(np.float32)
    return feats - feats.mean(axis=1, keepdims=True)


def test_mixed_lengths_match_one_by_one(onnx_path):
    rng = np.random.default_rng(3)
    items = [_features(rng, t, rows) for t, rows in [(298, 1), (98, 2), (298, 1), (998, 1), (98, 1), (500, 3)]]
    embedder = OnnxEmbedder(onnx_path, EmbedderConfig(max_batch_frames=700))  # forces several chunks per length
    batched = embedder.embed_many(items)
    for item, got in zip(items, batched):
        assert got.shape == (item.shape[0], embedder.embedding_dim)
        for row in range(item.shape[0]):
            alone = embedder.embed(item[row:row + 1])[0]
            assert float(alone @ got[row]) >= 0.9999
            assert abs(np.linalg.norm(got[row]) - 1.0) < 1e-5


def test_different_inputs_give_different_embeddings(onnx_path):
    rng = np.random.default_rng(4)
    embedder = OnnxEmbedder(onnx_path)
    a, b = embedder.embed_many([_features(rng, 298), _features(rng, 298)])
    assert float(a[0] @ b[0]) < 0.999
