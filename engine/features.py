"""Kaldi-compatible 80-bin log-mel filterbank features, exactly as CAM++ was trained.

3D-Speaker computes `torchaudio.compliance.kaldi.fbank` on [-1, 1] float audio at 16 kHz with its defaults
(povey window, 25 ms / 10 ms, pre-emphasis 0.97, DC removal, snip edges) and dither 0, then subtracts the
per-utterance mean. kaldi-native-fbank implements the same Kaldi algorithm in C++ without torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import kaldi_native_fbank as knf
import numpy as np


@dataclass(frozen=True)
class FbankConfig:
    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "povey"
    dither: float = 0.0
    snip_edges: bool = True
    mean_normalize: bool = True

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "FbankConfig":
        """Builds a config from Triton model-config `parameters` (all strings)."""
        def flag(name: str, default: bool) -> bool:
            return str(params.get(name, default)).strip().lower() in ("1", "true", "yes")

        return cls(
            sample_rate=int(params.get("sample_rate", cls.sample_rate)),
            num_mel_bins=int(params.get("num_mel_bins", cls.num_mel_bins)),
            frame_length_ms=float(params.get("frame_length_ms", cls.frame_length_ms)),
            frame_shift_ms=float(params.get("frame_shift_ms", cls.frame_shift_ms)),
            window_type=str(params.get("window_type", cls.window_type)),
            dither=float(params.get("dither", cls.dither)),
            snip_edges=flag("snip_edges", cls.snip_edges),
            mean_normalize=flag("mean_normalize", cls.mean_normalize),
        )

    def as_params(self) -> dict[str, str]:
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.__dict__.items()}

    def num_frames(self, num_samples: int) -> int:
        """Frames Kaldi produces for `num_samples` samples (snip_edges semantics)."""
        length = int(self.sample_rate * self.frame_length_ms / 1000)
        shift = int(self.sample_rate * self.frame_shift_ms / 1000)
        if self.snip_edges:
            return 0 if num_samples < length else 1 + (num_samples - length) // shift
        return (num_samples + shift // 2) // shift


class FbankExtractor:
    """Turns one mono float waveform into a (T, num_mel_bins) float32 feature matrix."""

    def __init__(self, config: FbankConfig | None = None):
        self.config = config or FbankConfig()
        opts = knf.FbankOptions()
        opts.frame_opts.samp_freq = float(self.config.sample_rate)
        opts.frame_opts.frame_length_ms = self.config.frame_length_ms
        opts.frame_opts.frame_shift_ms = self.config.frame_shift_ms
        opts.frame_opts.dither = self.config.dither
        opts.frame_opts.window_type = self.config.window_type
        opts.frame_opts.snip_edges = self.config.snip_edges
        opts.mel_opts.num_bins = self.config.num_mel_bins
        self._options = opts

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        samples = np.ascontiguousarray(waveform, dtype=np.float32).reshape(-1)
        fbank = knf.OnlineFbank(self._options)
        fbank.accept_waveform(float(self.config.sample_rate), samples)
        fbank.input_finished()
        frames = fbank.num_frames_ready
        if frames == 0:
            return np.zeros((0, self.config.num_mel_bins), dtype=np.float32)
        feats = np.stack([fbank.get_frame(i) for i in range(frames)]).astype(np.float32, copy=False)
        if self.config.mean_normalize:
            feats -= feats.mean(axis=0, keepdims=True)
        return feats
