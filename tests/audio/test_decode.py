"""The audio decoder on real speech in every accepted format, rate, channel count and sample format; each error code."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from audio import TARGET_RATE, AudioError, AudioLimits, decode, sniff
from tests.audio.files import encode

LIMITS = AudioLimits(min_seconds=1.0, max_seconds=30.0, silence_rms=1e-4)
LOSSLESS = ("wav16", "wav24", "wavfloat", "flac", "flac24")
LOSSY = ("wav8", "mp3", "ogg", "opus", "m4a")
RATES = (8000, 22050, 44100, 48000)
OPUS_RATES = (8000, 48000)  # Opus itself only runs at 8/12/16/24/48 kHz


def cases():
    for fmt in LOSSLESS + LOSSY:
        for rate in OPUS_RATES if fmt == "opus" else RATES:
            for channels in (1, 2):
                yield fmt, rate, channels


@pytest.mark.parametrize("fmt,rate,channels", list(cases()))
def test_decodes_to_16k_mono(a_clip, fmt, rate, channels):
    waveform = decode(encode(a_clip, fmt, rate, channels), LIMITS)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    # Codec priming/padding (MP3, AAC) shifts and lengthens a little; never by more than 0.25 s (AAC at 8 kHz: 2048 samples).
    assert abs(waveform.size - a_clip.size) < 0.25 * TARGET_RATE, (waveform.size, a_clip.size)
    if fmt in LOSSLESS and rate >= 22050:
        n = min(waveform.size, a_clip.size)
        # Stereo is the mean of a channel and its 0.9-scaled copy.
        scale = 1.0 if channels == 1 else 0.95
        assert np.corrcoef(waveform[:n], a_clip[:n] * scale)[0, 1] > 0.99
    rms = np.sqrt(np.mean(waveform ** 2)) / np.sqrt(np.mean(a_clip ** 2))
    assert 0.5 < rms < 1.5


def wav_bytes(samples: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize("data,code", [
    (b"", "empty_audio"),
    (b"hello, this is not audio at all" * 10, "unsupported_format"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "unsupported_format"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40, "corrupt_audio"),
    (b"fLaC" + b"\x00" * 200, "corrupt_audio"),
    (b"OggS" + b"\x01" * 200, "corrupt_audio"),
    (b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200, "corrupt_audio"),
    (wav_bytes(np.zeros(16000 * 3, dtype=np.float32)), "silent_audio"),
    (wav_bytes(np.full(16000 * 3, 1e-6, dtype=np.float32), subtype="FLOAT"), "silent_audio"),
    (wav_bytes(np.zeros(0, dtype=np.float32)), "empty_audio"),
])
def test_error_codes(data, code):
    with pytest.raises(AudioError) as error:
        decode(data, LIMITS)
    assert error.value.code == code


def test_too_short_and_too_long(a_clip):
    with pytest.raises(AudioError) as error:
        decode(encode(a_clip[:8000], "wav16"), LIMITS)
    assert error.value.code == "audio_too_short"
    long = np.tile(a_clip, int(31 * TARGET_RATE / a_clip.size) + 1)
    with pytest.raises(AudioError) as error:
        decode(encode(long, "flac", 44100), LIMITS)
    assert error.value.code == "audio_too_long"


def test_truncated_files_are_errors_not_crashes(a_clip):
    for fmt in LOSSLESS + LOSSY:
        data = encode(a_clip, fmt)
        for cut in (4, 12, 44, 200):
            with pytest.raises(AudioError):
                decode(data[:cut], LIMITS)


def test_nan_samples_are_corrupt():
    samples = np.full(16000 * 2, np.nan, dtype=np.float32)
    with pytest.raises(AudioError) as error:
        decode(wav_bytes(samples, subtype="FLOAT"), LIMITS)
    assert error.value.code == "corrupt_audio"


def test_sniff():
    assert sniff(b"RIFF\0\0\0\0WAVE") == "wav" and sniff(b"ID3\x04") == "mp3" and sniff(b"\0\0\0\x18ftypmp42") == "mp4"
    assert sniff(b"\xff\xf1\x50\x80") == "aac" and sniff(b"\xff\xfb\x90d") == "mp3" and sniff(b"<html>") is None


def test_forged_headers_are_refused_before_allocating(a_clip):
    data = bytearray(encode(a_clip[:32000], "wav16"))
    data[24:28] = (2_000_000_000).to_bytes(4, "little")  # sample rate field of the fmt chunk
    with pytest.raises(AudioError) as error:
        decode(bytes(data), LIMITS)
    assert error.value.code in ("unsupported_format", "corrupt_audio")
    many = np.tile(a_clip[:32000, None], (1, 12)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, many, 16000, format="WAV", subtype="PCM_16")
    with pytest.raises(AudioError) as error:
        decode(buffer.getvalue(), LIMITS)
    assert error.value.code == "unsupported_format"
