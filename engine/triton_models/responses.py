"""Error responses of the python models: the input's fault (INVALID_ARG) or the model's (INTERNAL).

The code crosses the ensemble and reaches clients as a status (engine.contract.GRPC_REJECT_STATUS), so callers
tell "bad audio" from "broken server" without reading messages.
"""
from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from engine.contract import REJECT_CODE


def rejection(message: str):
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, getattr(pb_utils.TritonError, REJECT_CODE)))


def failure(message: str):
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INTERNAL))


def waveform_problem(waveform: np.ndarray) -> str | None:
    """Why a waveform batch cannot be embedded at all, or None."""
    if waveform.ndim != 2 or not np.all(np.isfinite(waveform)):
        return "waveform must be finite float32 (B, N)"
    return None


def too_short(num_samples: int, frames: int, min_frames: int) -> str | None:
    """Why a waveform of `num_samples` giving `frames` fbank frames is too short to embed, or None."""
    if frames >= min_frames:
        return None
    return f"waveform too short: {num_samples} samples give {frames} frames, at least {min_frames} are needed"
