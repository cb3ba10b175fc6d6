"""Resemblyzer's partial-window mel front end in numpy: (N,) preprocessed waveform -> (P, 160, 40) windows.

`wav_to_mel_spectrogram` is librosa.feature.melspectrogram with librosa's defaults (centred, zero-padded periodic
Hann STFT, power 2, Slaney-scale Slaney-normalised mel filters, not logged); `partial_slices` is
VoiceEncoder.compute_partial_slices. Both are reproduced here so that serving needs neither librosa nor torch.
"""
from __future__ import annotations

import numpy as np

from engine.ge2e_config import Ge2eConfig
from engine.ge2e_preprocess import preprocess

_F_SP = 200.0 / 3  # Slaney mel scale: linear below 1 kHz, logarithmic above
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asanyarray(hz, dtype=np.float64)
    mels = hz / _F_SP
    log_part = hz >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asanyarray(mels, dtype=np.float64)
    return np.where(mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), _F_SP * mels)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32, as librosa.filters.mel(sr=, n_fft=, n_mels=) with its defaults."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def periodic_hann(length: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def partial_slices(n_samples: int, config: Ge2eConfig) -> tuple[list[int], int]:
    """First mel frame of each partial window, and the waveform length they cover (pad with zeros up to it)."""
    hop = config.hop
    n_frames = int(np.ceil((n_samples + 1) / hop))
    frame_step = int(np.round((config.sample_rate / config.partial_rate) / hop))
    steps = max(1, n_frames - config.partial_frames + frame_step + 1)
    starts = list(range(0, steps, frame_step))
    last_start = starts[-1] * hop
    coverage = (n_samples - last_start) / (config.partial_frames * hop)
    if coverage < config.min_coverage and len(starts) > 1:
        starts = starts[:-1]
    return starts, (starts[-1] + config.partial_frames) * hop


class Ge2eFrontEnd:
    """One 16 kHz float waveform -> its partial mel windows (P, partial_frames, num_mel_bins) float32."""

    def __init__(self, config: Ge2eConfig | None = None):
        self.config = config or Ge2eConfig()
        self._window = periodic_hann(self.config.n_fft)
        self._basis_t = mel_filterbank(self.config.sample_rate, self.config.n_fft, self.config.num_mel_bins).T.copy()

    def mel_spectrogram(self, wav: np.ndarray) -> np.ndarray:
        """(T, num_mel_bins) power mel frames, T = 1 + len(wav) // hop."""
        pad = self.config.n_fft // 2
        padded = np.pad(np.asarray(wav, dtype=np.float32), (pad, pad))
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.config.n_fft)[::self.config.hop]
        # librosa computes the FFT in float64 and stores it as complex64 for float32 audio: the same here.
        spectrum = np.fft.rfft(frames * self._window, axis=-1).astype(np.complex64)
        power = np.abs(spectrum) ** 2
        return (power @ self._basis_t).astype(np.float32, copy=False)

    def windows(self, speech: np.ndarray) -> np.ndarray:
        """Partial windows of already preprocessed speech, zero-padded at the end as Resemblyzer does."""
        starts, covered = partial_slices(len(speech), self.config)
        if covered >= len(speech):
            speech = np.pad(speech, (0, covered - len(speech)))
        mel = self.mel_spectrogram(speech)
        size = self.config.partial_frames
        return np.stack([mel[start:start + size] for start in starts])

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        return self.windows(preprocess(wav, self.config))
