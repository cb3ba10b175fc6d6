"""What the pipeline needs from the outside, as three small interfaces.

The router implements them over its Triton pool and store (router/recordings/backends.py), `vomid label DIR` over
Triton gRPC (client/label_triton.py), and labelling/local.py in this process with onnxruntime, for the benchmark's
side-by-side run and for tests (kept apart so a router never loads onnxruntime for them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.vad import VadCarry


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
