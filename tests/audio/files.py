"""Encodes real speech into the upload formats the router accepts (in memory), for the router tests."""
from __future__ import annotations

import io

import av
import numpy as np
import soundfile as sf
import soxr

# format name -> (soundfile format, subtype)
SOUNDFILE_FORMATS = {
    "wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "wav8": ("WAV", "PCM_U8"),
    "wavfloat": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_16"), "flac24": ("FLAC", "PCM_24"),
    "mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS"), "opus": ("OGG", "OPUS"),
}


def resample(waveform: np.ndarray, rate: int) -> np.ndarray:
    return waveform if rate == 16000 else soxr.resample(waveform, 16000, rate).astype(np.float32)


def encode(waveform: np.ndarray, fmt: str, rate: int = 16000, channels: int = 1) -> bytes:
    """16 kHz mono float speech -> bytes of `fmt` at `rate` with `channels` (channels carry scaled copies)."""
    audio = resample(waveform, rate)
    frames = np.stack([audio * (0.9 ** c) for c in range(channels)], axis=1)
    if fmt == "m4a":
        return _m4a(frames, rate)
    container, subtype = SOUNDFILE_FORMATS[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, frames, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _m4a(frames: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    layout = "mono" if frames.shape[1] == 1 else "stereo"
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(frames.T, dtype=np.float32), format="fltp",
                                           layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
