"""The labelling pipeline's backends over the router's Triton pool (balanced, retried, ejected like embeddings)."""
from __future__ import annotations

import numpy as np

from engine.vad import VadCarry
from router.balancer.pool import TritonPool

VAD_OUTPUTS = ["probability", "state_out", "context_out"]


class PoolVad:
    def __init__(self, pool: TritonPool, model: str):
        self.pool, self.model = pool, model
        self._loaded = False

    async def run(self, chunk: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
        if not self._loaded:  # `vomid up` loads the VAD model with the first labelling job
            self._loaded = await self.pool.ensure_loaded(self.model)
        outputs = await self.pool.infer(self.model, {"waveform": chunk.reshape(1, -1), "state": carry.state,
                                                     "context": carry.context}, VAD_OUTPUTS)
        return outputs["probability"][0], VadCarry(outputs["state_out"], outputs["context_out"])


class PoolEmbedder:
    def __init__(self, pool: TritonPool):
        self.pool = pool

    async def embed(self, windows: np.ndarray) -> np.ndarray:
        return await self.pool.embed_batch(windows)
