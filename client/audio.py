"""Turns what a caller has (a path, bytes, a file object, or a numpy array and its rate) into one upload.

Everything is read into memory once, so a retried request sends the same bytes again. Arrays are encoded as
16-bit PCM WAV with soundfile: lossless for speech and decodable by every router.
"""
from __future__ import annotations

import io
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf

AudioInput = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, np.ndarray, tuple]

_CONTENT_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
                  ".opus": "audio/ogg", ".m4a": "audio/mp4", ".webm": "audio/webm"}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    content_type: str


def to_upload(audio: AudioInput, sample_rate: int | None = None) -> Upload:
    """`audio` may also be an `(array, sample_rate)` tuple; a bare array needs `sample_rate`."""
    if isinstance(audio, tuple):
        if len(audio) != 2:
            raise TypeError("an audio tuple must be (array, sample_rate)")
        audio, sample_rate = audio
    if isinstance(audio, np.ndarray):
        return _encode_array(audio, sample_rate)
    if isinstance(audio, (bytes, bytearray, memoryview)):
        return Upload("audio", bytes(audio), "application/octet-stream")
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        return Upload(path.name, path.read_bytes(), _content_type(path.name))
    if hasattr(audio, "read"):
        name = os.path.basename(str(getattr(audio, "name", "") or "audio"))
        data = audio.read()
        if not isinstance(data, bytes):
            raise TypeError("audio file objects must be opened in binary mode")
        return Upload(name, data, _content_type(name))
    raise TypeError(f"unsupported audio input: {type(audio).__name__}")


def _encode_array(samples: np.ndarray, sample_rate: int | None) -> Upload:
    if not sample_rate or sample_rate <= 0:
        raise ValueError("a numpy audio array needs its sample_rate")
    if samples.ndim not in (1, 2) or samples.size == 0:
        raise ValueError("audio arrays must be non-empty (samples,) or (samples, channels)")
    if np.issubdtype(samples.dtype, np.floating):
        samples = np.clip(samples, -1.0, 1.0)  # PCM_16 wraps out-of-range floats; clipping is the lesser harm
    buffer = io.BytesIO()
    sf.write(buffer, samples, int(sample_rate), format="WAV", subtype="PCM_16")
    return Upload("audio.wav", buffer.getvalue(), "audio/wav")


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
