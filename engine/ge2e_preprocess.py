"""Resemblyzer's `preprocess_wav` on a 16 kHz waveform, without librosa or torch: volume normalisation, then
WebRTC-VAD trimming of long silences.

The arithmetic follows resemblyzer/audio.py (Apache-2.0) step by step, in the same numpy dtypes, so the served
embedding matches `VoiceEncoder.embed_utterance(preprocess_wav(...))`; tests compare both on real speech. The one
change: scipy's binary dilation by a flat window is written as a convolution (the same result, one dependency less).
"""
from __future__ import annotations

import numpy as np

try:
    import webrtcvad
except ImportError as exc:  # webrtcvad 2.0.10's wrapper (pulled in by resemblyzer) needs pkg_resources
    raise ImportError(f"the webrtcvad module cannot be imported ({exc}); webrtcvad-wheels provides it without "
                      "pkg_resources: pip install --force-reinstall --no-deps webrtcvad-wheels") from exc

from engine.contract import InputRejected
from engine.ge2e_config import Ge2eConfig

INT16_MAX = (2 ** 15) - 1


def normalize_volume(wav: np.ndarray, target_dbfs: int) -> np.ndarray:
    """Raises quiet audio to `target_dbfs` RMS (never lowers it), as Resemblyzer's increase_only mode."""
    rms = np.sqrt(np.mean((wav * INT16_MAX) ** 2))
    if not rms > 0:
        raise InputRejected("no speech: the waveform is silent")
    wave_dbfs = 20 * np.log10(rms / INT16_MAX)
    change = target_dbfs - wave_dbfs
    if change < 0:
        return wav
    return wav * (10 ** (change / 20))


def voice_flags(wav: np.ndarray, config: Ge2eConfig) -> np.ndarray:
    """One WebRTC VAD decision per window; `wav` is a whole number of windows. A fresh VAD per utterance."""
    pcm = np.round(wav * INT16_MAX).astype(np.int16).tobytes()
    vad = webrtcvad.Vad(mode=config.vad_mode)
    step = config.vad_window * 2  # bytes per window
    return np.array([vad.is_speech(pcm[start:start + step], sample_rate=config.sample_rate)
                     for start in range(0, len(pcm), step)])


def moving_average(array: np.ndarray, width: int) -> np.ndarray:
    padded = np.concatenate((np.zeros((width - 1) // 2), array, np.zeros(width // 2)))
    sums = np.cumsum(padded, dtype=float)
    sums[width:] = sums[width:] - sums[:-width]
    return sums[width - 1:] / width


def dilate(mask: np.ndarray, width: int) -> np.ndarray:
    """scipy.ndimage.binary_dilation(mask, np.ones(width)) for odd `width`: true within width // 2 of a true."""
    full = np.convolve(mask.astype(np.int64), np.ones(width, dtype=np.int64))  # len(mask) + width - 1 sums
    return full[width // 2: width // 2 + len(mask)] > 0


def trim_long_silences(wav: np.ndarray, config: Ge2eConfig) -> np.ndarray:
    """Drops silences longer than vad_max_silence windows; the result is a whole number of VAD windows."""
    window = config.vad_window
    wav = wav[:len(wav) - (len(wav) % window)]
    if len(wav) == 0:
        return wav
    mask = np.round(moving_average(voice_flags(wav, config), config.vad_average_width)).astype(bool)
    mask = dilate(mask, config.vad_max_silence + 1)
    return wav[np.repeat(mask, window)]


def preprocess(wav: np.ndarray, config: Ge2eConfig) -> np.ndarray:
    """A float32 waveform in [-1, 1] -> the speech Resemblyzer embeds; InputRejected when too little is left."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if len(wav) < config.min_speech_samples:
        raise InputRejected(f"waveform too short: {len(wav)} samples, at least {config.min_speech_samples} "
                            f"({config.min_speech_ms} ms) are needed")
    speech = trim_long_silences(normalize_volume(wav, config.target_dbfs), config)
    if len(speech) < config.min_speech_samples:
        raise InputRejected(f"no speech detected: {len(speech)} samples of voice after silence trimming, "
                            f"at least {config.min_speech_samples} are needed")
    return speech
