"""The embedding stage keeps at most `concurrency` files in flight and reads each distinct file once."""
from __future__ import annotations

import asyncio

import numpy as np
import soundfile as sf

from client.scoring.cache import EmbeddingCache
from client.scoring.embed_files import embed_files


class CountingEmbedder:
    """Mean of the waveform as a 1-D "embedding"; records how many calls overlap."""

    def __init__(self):
        self.in_flight = self.peak = self.calls = 0

    async def embed(self, waveform: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return np.array([waveform.mean()], dtype=np.float32)


async def test_bounded_concurrency_dedup_and_cache(tmp_path):
    paths = []
    for i in range(12):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], np.full(1600, i / 100, dtype=np.float32), 16000)
    embedder = CountingEmbedder()
    cache = EmbeddingCache(tmp_path / "cache", "0" * 64)
    run = await embed_files(paths + paths[:4], embedder, cache, concurrency=3)
    assert embedder.calls == 12 and embedder.peak == 3
    assert (run.computed, run.cached, len(run.embeddings)) == (12, 0, 12)
    np.testing.assert_allclose(run.embeddings[paths[5]], [0.05], atol=1e-4)
    again = await embed_files(paths, embedder, cache, concurrency=3)
    assert (again.computed, again.cached, embedder.calls) == (0, 12, 12)
