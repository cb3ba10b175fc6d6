"""What the pipeline needs from the outside, as three small interfaces, and the in-process implementations.

The router implements them over its Triton pool and store (router/recordings/backends.py), `vomid label DIR` over
Triton gRPC (labelling/triton_backend.py); the in-process ones run the same ONNX files with onnxruntime, for the
benchmark's side-by-side run and for tests.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.embedder import EmbedderConfig, OnnxEmbedder
from engine.features import FbankExtractor
from engine.vad import SileroVad, VadCarry


class VadBackend(Protocol):
    async def run(self, chunk: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
        """One recording's chunk (N,), N a multiple of 512 -> probabilities (N / 512,) and the next carry."""


class WindowEmbedder(Protocol):
    async def embed(self, windows: np.ndarray) -> np.ndarray:
        """Equal-length 16 kHz windows (B, N) -> unit embeddings (B, D)."""


@dataclass(frozen=True)
class SpeakerMatch:
    user_id: str
    name: str
    score: float


class SpeakerMatcher(Protocol):
    async def match(self, centroid: np.ndarray) -> SpeakerMatch | None:
        """The enrolled speaker this voice is (at or above the verify threshold), else None."""


class LocalVad:
    def __init__(self, model_path: Path | str):
        self._vad = SileroVad(model_path)

    async def run(self, chunk: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
        probs, carry = await asyncio.to_thread(self._vad.run, chunk.reshape(1, -1), carry)
        return probs[0], carry


class LocalEmbedder:
    """fbank + CAM++ ONNX in this process: the same computation as the `speaker` ensemble."""

    def __init__(self, model_path: Path | str, config: EmbedderConfig | None = None):
        self._extractor = FbankExtractor()
        self._embedder = OnnxEmbedder(model_path, config)

    def _embed(self, windows: np.ndarray) -> np.ndarray:
        return self._embedder.embed(np.stack([self._extractor(row) for row in windows]))

    async def embed(self, windows: np.ndarray) -> np.ndarray:
        return await asyncio.to_thread(self._embed, windows)
