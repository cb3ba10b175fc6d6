"""Silero VAD's frame logic without torch: speech probabilities of 512-sample windows at 16 kHz.

It reproduces `silero_vad.utils_vad.OnnxWrapper` exactly: the stock `silero_vad.onnx` sees each 512-sample window
prefixed with the last 64 samples of the window before (zeros at the start), and its LSTM state (2, B, 128) is
carried from window to window. A stream may be cut into chunks of any multiple of 512 samples: `VadCarry` holds
what crosses the cut, so probabilities do not depend on where the cuts fall. The final partial window is padded
with zeros, as `get_speech_timestamps` does. Several streams run as rows of one batch (their carries side by side).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
FRAME = 512
CONTEXT = 64
STATE_SIZE = 128


@dataclass
class VadCarry:
    """What one batch of streams carries from chunk to chunk: LSTM state (B, 2, 128), context (B, 64)."""

    state: np.ndarray
    context: np.ndarray

    @classmethod
    def initial(cls, batch: int = 1) -> "VadCarry":
        return cls(np.zeros((batch, 2, STATE_SIZE), np.float32), np.zeros((batch, CONTEXT), np.float32))

    def check(self, batch: int) -> None:
        if self.state.shape != (batch, 2, STATE_SIZE) or self.context.shape != (batch, CONTEXT):
            raise ValueError(f"carry shapes {self.state.shape}/{self.context.shape} do not fit a batch of {batch}")


def pad_to_frames(samples: np.ndarray) -> np.ndarray:
    """Zero-pads the last dimension up to a multiple of FRAME (the final partial window of a stream)."""
    short = -samples.shape[-1] % FRAME
    if not short:
        return samples
    return np.pad(samples, [(0, 0)] * (samples.ndim - 1) + [(0, short)])


class SileroVad:
    """Runs silero_vad.onnx on (B, N) chunks, N a multiple of FRAME; one onnxruntime call per window."""

    def __init__(self, model_path: Path | str, intra_op_threads: int = 1):
        import onnxruntime as ort  # here, not at the top: the router needs VadCarry, never onnxruntime (~30 MB)

        options = ort.SessionOptions()
        # As the package's wrapper: one window is far too small for more threads to pay.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)

    def run(self, waveform: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
        """(B, N) float32 -> speech probabilities (B, N // FRAME) and the carry for the next chunk."""
        if waveform.ndim != 2 or waveform.shape[1] % FRAME:
            raise ValueError(f"waveform must be (B, N) with N a multiple of {FRAME}, got {waveform.shape}")
        batch, frames = waveform.shape[0], waveform.shape[1] // FRAME
        carry.check(batch)
        samples = np.ascontiguousarray(waveform, dtype=np.float32)
        state = np.ascontiguousarray(carry.state.transpose(1, 0, 2))  # the model's layout is (2, B, 128)
        context = carry.context
        probs = np.empty((batch, frames), np.float32)
        for index in range(frames):
            window = np.concatenate([context, samples[:, index * FRAME:(index + 1) * FRAME]], axis=1)
            out, state = self._session.run(None, {"input": window, "state": state, "sr": self._rate})
            probs[:, index] = out[:, 0]
            context = window[:, -CONTEXT:]
        return probs, VadCarry(np.ascontiguousarray(state.transpose(1, 0, 2)), np.ascontiguousarray(context))

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """One whole 1-D stream -> its probabilities (the final partial window zero-padded)."""
        probs, _ = self.run(pad_to_frames(np.asarray(waveform, np.float32).reshape(1, -1)), VadCarry.initial(1))
        return probs[0]
