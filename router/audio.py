"""Decodes an uploaded audio file into 16 kHz mono float32 and checks it is usable speech-sized audio.

soundfile (libsndfile) reads WAV, FLAC, MP3 and OGG (Vorbis/Opus); PyAV reads M4A/AAC/MP4. Any sample rate is
resampled with soxr, any channel count averaged to mono, any sample format converted to float in [-1, 1].
Pure CPU work: the router runs `decode` in its thread pool, never on the event loop.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf
import soxr

from router.errors import AudioError

log = logging.getLogger(__name__)

TARGET_RATE = 16000
# Bounds on what a header may claim, so a forged one cannot make us allocate gigabytes before reading a sample.
MIN_RATE, MAX_RATE = 4000, 384000
MAX_CHANNELS = 8


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    silence_rms: float = 1e-4


def sniff(data: bytes) -> str | None:
    """Container family from magic bytes, or None when it is no audio format we know."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] in (b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS: sync word with layer bits 00
    if head[:4] in (b"FORM", b".snd", b"caff"):
        return "other-sndfile"  # AIFF, AU, CAF: libsndfile reads them too
    return None


def decode(data: bytes, limits: AudioLimits) -> np.ndarray:
    """Bytes of an audio file -> 16 kHz mono float32, or an AudioError with a precise code."""
    if not data:
        raise AudioError("the audio file is empty", code="empty_audio")
    kind = sniff(data)
    if kind is None:
        raise AudioError("unsupported audio format (WAV, FLAC, MP3, OGG/Vorbis/Opus, M4A/AAC are accepted)",
                         code="unsupported_format")
    # Decode a little past the limit so "too long" is known without decoding hours of compressed audio.
    max_read = limits.max_seconds + 0.5
    if kind in ("mp4", "aac"):
        samples, rate = _decode_av(data, max_read)
    else:
        samples, rate = _decode_soundfile(data, max_read)
    if samples.size == 0:
        raise AudioError("the audio file holds no samples", code="empty_audio")
    if not np.all(np.isfinite(samples)):
        raise AudioError("the audio holds NaN or infinite samples", code="corrupt_audio")
    mono = samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples.astype(np.float32)
    if rate != TARGET_RATE:
        mono = soxr.resample(mono, rate, TARGET_RATE, quality="HQ").astype(np.float32, copy=False)
    return check(mono, limits)


def check(waveform: np.ndarray, limits: AudioLimits) -> np.ndarray:
    seconds = waveform.size / TARGET_RATE
    if seconds < limits.min_seconds:
        raise AudioError(f"audio too short: {seconds:.2f}s, at least {limits.min_seconds:g}s of speech is needed",
                         code="audio_too_short")
    if seconds > limits.max_seconds:
        raise AudioError(f"audio too long: more than {limits.max_seconds:g}s", code="audio_too_long")
    rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
    if rms < limits.silence_rms:
        raise AudioError("the audio is silent", code="silent_audio")
    return np.clip(waveform, -1.0, 1.0, out=waveform)


def _decode_soundfile(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(io.BytesIO(data)) as handle:
            rate = handle.samplerate
            _check_header(rate, handle.channels)
            frames = int(max_seconds * rate) + 1
            if 0 < handle.frames < frames:  # unknown (0) or over-long lengths are capped by the limit
                frames = handle.frames
            samples = handle.read(frames=frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError, MemoryError, OverflowError) as exc:
        raise AudioError(f"the audio file is corrupt or truncated ({_short(exc)})", code="corrupt_audio") from None
    return samples, rate


def _decode_av(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    chunks: list[np.ndarray] = []
    rate = 0
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError("the file has no audio stream", code="unsupported_format")
            stream = container.streams.audio[0]
            _check_header(stream.codec_context.sample_rate or TARGET_RATE, stream.codec_context.channels or 1)
            # Let PyAV hand us planar float32, whatever the codec's native sample format.
            resampler = av.AudioResampler(format="fltp")
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    rate = converted.sample_rate
                    plane = converted.to_ndarray()  # (channels, samples)
                    chunks.append(plane.T)
                    total += plane.shape[1]
                if rate and total > max_seconds * rate:
                    break
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, IndexError, EOFError, MemoryError) as exc:
        raise AudioError(f"the audio file is corrupt or truncated ({_short(exc)})", code="corrupt_audio") from None
    if not chunks or rate <= 0:
        return np.zeros((0, 1), dtype=np.float32), TARGET_RATE
    return np.concatenate(chunks).astype(np.float32, copy=False), rate


def _check_header(rate: int, channels: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz", code="unsupported_format")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{channels} channels: at most {MAX_CHANNELS} are accepted", code="unsupported_format")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
