"""Decodes block by block into 16 kHz mono float32, so what a file costs is bounded whatever its header claims.

Worst case per call, whatever the bytes: the native samples decoded (all channels) never exceed
`AudioLimits.work_budget` (the configured duration at 384 k samples/s: 48 kHz x 8 channels, or 384 kHz mono), and
memory holds one native block (`BLOCK_SAMPLES` floats) plus the 16 kHz mono output. A header that claims more work
than the budget is refused before a sample is decoded; one that lies is cut off while decoding.

soundfile (libsndfile) reads WAV, FLAC, MP3 and OGG (Vorbis/Opus) in blocks; PyAV (FFmpeg) reads M4A/AAC/MP4 frame
by frame. Channels are averaged per block; soxr's streaming resampler turns each block into 16 kHz.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf
import soxr

from audio.errors import AudioError
from audio.formats import AV_KINDS, HEAD_BYTES, sniff

TARGET_RATE = 16000
MIN_RATE, MAX_RATE = 4000, 384000
MAX_CHANNELS = 8
# Native samples (all channels together) one second of input may decode to: 48 kHz x 8 or 384 kHz mono.
WORK_PER_SECOND = 384_000
# Native samples (all channels) per decoded block: 1 MiB of float32.
BLOCK_SAMPLES = 1 << 18
# Decode a little past the limit, so "too long" is known without decoding hours of compressed audio.
READ_MARGIN_S = 0.5

Source = Union[bytes, str, os.PathLike, BinaryIO]


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    silence_rms: float = 1e-4

    @property
    def read_seconds(self) -> float:
        return self.max_seconds + READ_MARGIN_S

    @property
    def work_budget(self) -> int:
        """Native samples (all channels) a file may decode to before it is refused as too costly."""
        return int(self.read_seconds * WORK_PER_SECOND)


def decode(source: Source, limits: AudioLimits) -> np.ndarray:
    """A whole clip -> 16 kHz mono float32 in [-1, 1], checked against `limits` (length, silence)."""
    blocks = list(stream(source, limits))
    waveform = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    if waveform.size == 0:
        raise AudioError("the audio file holds no samples", code="empty_audio")
    return check(waveform, limits)


def stream(source: Source, limits: AudioLimits) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks, in order; stops once past `limits.read_seconds` of output."""
    handle, owned = _open(source)
    try:
        kind = sniff(_peek(handle))
        if kind is None:
            raise AudioError("unsupported audio format (WAV, FLAC, MP3, OGG/Vorbis/Opus, M4A/AAC are accepted)",
                             code="unsupported_format")
        native = _av_blocks(handle, limits) if kind in AV_KINDS else _soundfile_blocks(handle, limits)
        yield from _resampled(native, limits)
    finally:
        if owned:
            handle.close()


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


# --- native blocks ------------------------------------------------------------------------------
def _soundfile_blocks(handle: BinaryIO, limits: AudioLimits) -> Iterator[tuple[np.ndarray, int]]:
    try:
        with sf.SoundFile(handle) as audio:
            rate, channels = audio.samplerate, audio.channels
            frames = audio.frames if 0 < audio.frames < limits.read_seconds * rate else None
            _check_header(rate, channels, frames, limits)
            budget = _Budget(limits)
            for block in audio.blocks(blocksize=max(1, BLOCK_SAMPLES // channels), dtype="float32",
                                      always_2d=True):
                budget.spend(block.size)
                yield _mono(block), rate
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError, MemoryError, OverflowError) as exc:
        raise _corrupt(exc) from None


def _av_blocks(handle: BinaryIO, limits: AudioLimits) -> Iterator[tuple[np.ndarray, int]]:
    import av  # FFmpeg holds ~16 MB resident: loaded by the first M4A/AAC/MP4, not by every idle router

    try:
        with av.open(handle, mode="r") as container:
            if not container.streams.audio:
                raise AudioError("the file has no audio stream", code="unsupported_format")
            stream = container.streams.audio[0]
            codec = stream.codec_context
            _check_header(codec.sample_rate or TARGET_RATE, codec.channels or 1, _av_frames(stream), limits)
            budget = _Budget(limits)
            # Any codec sample format -> packed float32: one plane. (PyAV 18 segfaults reading 8 planar channels.)
            to_float = av.AudioResampler(format="flt")
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    packed = converted.to_ndarray().reshape(-1, converted.layout.nb_channels)
                    budget.spend(packed.size)
                    yield _mono(packed), converted.sample_rate
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, IndexError, EOFError, MemoryError) as exc:
        raise _corrupt(exc) from None


def _av_frames(stream) -> int | None:
    if stream.duration is None or stream.time_base is None or not stream.codec_context.sample_rate:
        return None
    return int(stream.duration * stream.time_base * stream.codec_context.sample_rate)


def _mono(block: np.ndarray) -> np.ndarray:
    """(samples, channels) -> (samples,) float32, refusing NaN/inf as soon as a block holds one."""
    mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        raise AudioError("the audio holds NaN or infinite samples", code="corrupt_audio")
    return np.ascontiguousarray(mono, dtype=np.float32)


class _Budget:
    """Counts native samples as they are decoded; a file whose header understated them is cut off here."""

    def __init__(self, limits: AudioLimits):
        self.left = limits.work_budget
        self.limits = limits

    def spend(self, samples: int) -> None:
        self.left -= samples
        if self.left < 0:
            raise _too_complex(self.limits)


def _check_header(rate: int, channels: int, frames: int | None, limits: AudioLimits) -> None:
    """Refuse what the header claims before allocating anything for it."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz", code="unsupported_format")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{channels} channels: at most {MAX_CHANNELS} are accepted", code="unsupported_format")
    seconds = frames / rate if frames is not None else limits.read_seconds
    if rate * channels * min(seconds, limits.read_seconds) > limits.work_budget:
        raise _too_complex(limits)


def _too_complex(limits: AudioLimits) -> AudioError:
    return AudioError(f"the audio needs more than {limits.work_budget:,} samples to decode (the cost of "
                      f"{limits.max_seconds:g}s at 48 kHz x 8 channels): send mono or stereo at 48 kHz or less",
                      code="audio_too_complex")


# --- resampling ---------------------------------------------------------------------------------
def _resampled(native: Iterator[tuple[np.ndarray, int]], limits: AudioLimits) -> Iterator[np.ndarray]:
    cap = int(limits.read_seconds * TARGET_RATE)
    emitted, rate, resampler = 0, None, None
    for block, block_rate in native:
        if rate is None:
            rate = block_rate
            resampler = None if rate == TARGET_RATE else soxr.ResampleStream(rate, TARGET_RATE, 1, quality="HQ")
        elif block_rate != rate:
            raise AudioError(f"the sample rate changes mid-stream ({rate} -> {block_rate} Hz)", code="corrupt_audio")
        out = block if resampler is None else resampler.resample_chunk(block)
        if out.size:
            yield out
        emitted += out.size
        if emitted > cap:
            return  # past the limit: the caller's length check reports it; nothing more is decoded
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        if tail.size:
            yield tail


# --- sources ------------------------------------------------------------------------------------
def _open(source: Source) -> tuple[BinaryIO, bool]:
    """A seekable binary handle on the source, and whether we opened it (and so must close it)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise AudioError("the audio file is empty", code="empty_audio")
        return io.BytesIO(source), True
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(source, "rb"), True  # noqa: SIM115 - closed by stream()
        except OSError as exc:
            raise AudioError(f"cannot read {source}: {exc.strerror}", code="corrupt_audio") from None
    return source, False


def _peek(handle: BinaryIO) -> bytes:
    start = handle.tell()
    head = handle.read(HEAD_BYTES)
    handle.seek(start)
    if not head:
        raise AudioError("the audio file is empty", code="empty_audio")
    return head


def _corrupt(exc: Exception) -> AudioError:
    text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return AudioError(f"the audio file is corrupt or truncated ({text})", code="corrupt_audio")
