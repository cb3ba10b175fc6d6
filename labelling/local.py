"""The pipeline's backends in this process: the same ONNX files Triton serves, run with onnxruntime."""
from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from engine.contract import CAMPPLUS
from engine.embedder import EmbedderConfig
from engine.local_pipeline import LocalPipeline
from engine.vad import SileroVad, VadCarry


class LocalVad:
    def __init__(self, model_path: Path | str):
        self._vad = SileroVad(model_path)

    async def run(self, chunk: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
        probs, carry = await asyncio.to_thread(self._vad.run, chunk.reshape(1, -1), carry)
        return probs[0], carry


class LocalEmbedder:
    """The served model's front end + embedding ONNX in this process: the same computation as the `speaker`
    ensemble, for either model family."""

    def __init__(self, model_path: Path | str, config: EmbedderConfig | None = None, model: str = CAMPPLUS.name):
        self._pipeline = LocalPipeline(model, model_path, config)

    def _embed(self, windows: np.ndarray) -> np.ndarray:
        return np.stack(self._pipeline.embed_many(list(windows)))

    async def embed(self, windows: np.ndarray) -> np.ndarray:
        return await asyncio.to_thread(self._embed, windows)
