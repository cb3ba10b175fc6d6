"""The decoder's worst cases: files whose headers claim (or whose bodies hold) the most work per byte.

Each file is decoded in a fresh child process, which reports its peak RSS growth: whatever the header says, the
file is refused before decoding or decoded within a bounded amount of memory and CPU.
"""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from audio import AudioLimits
from audio.decode import WORK_PER_SECOND

ROOT = Path(__file__).resolve().parents[2]
MAX_EXTRA_PEAK_MB = 64  # the bound on what one request's decode may add to the router's memory
LIMITS = AudioLimits()


def constant_blocks(seconds: float, rate: int, channels: int, block_s: float = 1.0):
    """A constant signal (the cheapest to compress, so the most samples per byte) in one-second blocks."""
    block = np.full((int(rate * block_s), channels), 0.25, dtype=np.float32)
    for _ in range(int(seconds / block_s)):
        yield block


def soundfile_file(path: Path, seconds: float, rate: int, channels: int, fmt: str, subtype: str) -> Path:
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype) as out:
        for block in constant_blocks(seconds, rate, channels):
            out.write(block)
    return path


def aac_file(path: Path, seconds: float, rate: int, layout: str) -> Path:
    channels = av.AudioLayout(layout).nb_channels
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        for n in range(int(seconds * rate) // 1024):
            frame = av.AudioFrame.from_ndarray(np.full((1, channels * 1024), 0.25, dtype=np.float32),
                                               format="flt", layout=layout)
            frame.sample_rate, frame.pts = rate, n * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def forged_wav(path: Path, rate: int, channels: int, claimed_seconds: float) -> Path:
    """One real second of PCM under a header claiming `claimed_seconds` (a lying data-chunk size)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.full((rate, channels), 0.25, dtype=np.float32), rate, format="WAV", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    claimed = min(0xFFFFFFF0, int(claimed_seconds * rate) * channels * 2)
    data[data.index(b"data") + 4:data.index(b"data") + 8] = struct.pack("<I", claimed)
    path.write_bytes(bytes(data))
    return path


# name -> (builder(tmp) -> path, expected outcome, seconds decoded). libsndfile sizes a WAV by its real data, so a
# lying data-chunk size costs nothing more than the bytes actually sent.
CASES = {
    "flac 30 s 384 kHz x 8": (lambda d: soundfile_file(d / "a.flac", 30, 384000, 8, "FLAC", "PCM_16"),
                              "audio_too_complex"),
    "m4a 30 s 96 kHz x 8 (7.1)": (lambda d: aac_file(d / "b.m4a", 30, 96000, "7.1"), "audio_too_complex"),
    "ogg 30 s 192 kHz x 8": (lambda d: soundfile_file(d / "c.ogg", 30, 192000, 8, "OGG", "VORBIS"),
                             "audio_too_complex"),
    "wav header claiming 30 s 384 kHz x 8": (lambda d: forged_wav(d / "d.wav", 384000, 8, 30), "decoded", 1),
    "wav header claiming 4 GB at 48 kHz x 8": (lambda d: forged_wav(d / "e.wav", 48000, 8, 1e6), "decoded", 1),
    "flac 30 s 48 kHz x 8 (the budget)": (lambda d: soundfile_file(d / "f.flac", 30, 48000, 8, "FLAC", "PCM_16"),
                                          "decoded", 30),
    "m4a 30 s 48 kHz x 8 (the budget)": (lambda d: aac_file(d / "g.m4a", 30, 48000, "7.1"), "decoded", 30),
    "flac 10 min 48 kHz x 2": (lambda d: soundfile_file(d / "h.flac", 600, 48000, 2, "FLAC", "PCM_16"),
                               "audio_too_long"),
    "mp3 2 min 48 kHz x 2": (lambda d: soundfile_file(d / "i.mp3", 120, 48000, 2, "MP3", "MPEG_LAYER_III"),
                             "audio_too_long"),
}


def measure(path: Path) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.audio.peak_rss", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", list(CASES))
def test_worst_case_is_refused_or_decoded_within_bounds(name, tmp_path):
    build, expected, *seconds = CASES[name]
    report = measure(build(tmp_path))
    assert report["outcome"] == expected, report
    assert report["extra_peak_mb"] <= MAX_EXTRA_PEAK_MB, report
    if expected == "decoded":
        assert abs(report["seconds"] - seconds[0]) < 0.1, report


def test_the_budget_is_what_the_limit_allows():
    """30 s at 48 kHz x 8 channels (or 384 kHz mono) is the most a default-limit clip may cost to decode."""
    assert LIMITS.work_budget == int(LIMITS.read_seconds * WORK_PER_SECOND) == int(30.5 * 48000 * 8)
