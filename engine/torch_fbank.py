"""Kaldi fbank for a batch of equal-length waveforms in torch: the GPU front end of CAM++.

The Triton python model computes fbank one utterance at a time with kaldi-native-fbank on the CPU (engine.features),
which caps a GPU deployment far below what CAM++ can do there. This is the same Kaldi algorithm as whole-batch tensor
operations (framing by strided view, DC removal, pre-emphasis, povey window, real FFT, power spectrum, mel matmul,
log, per-utterance mean subtraction), so it runs on whatever device the batch is on. tests/engine/test_torch_fbank.py
holds it to kaldi-native-fbank on real speech.
"""
from __future__ import annotations

import math

import torch

from engine.features import FbankConfig

PREEMPHASIS = 0.97
LOW_FREQ = 20.0  # Kaldi's default lower edge of the first mel bin
LOG_FLOOR = torch.finfo(torch.float32).eps  # Kaldi floors mel energies at float epsilon before the log


def _mel(freq: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(freq / 700.0)


def mel_banks(config: FbankConfig, fft_size: int, dtype=torch.float32) -> torch.Tensor:
    """(fft_size // 2 + 1, num_mel_bins) triangular weights on the power spectrum, as Kaldi's MelBanks (the Nyquist
    bin gets no weight)."""
    nyquist = config.sample_rate / 2
    mel_low, mel_high = _mel(torch.tensor(LOW_FREQ, dtype=torch.float64)), _mel(torch.tensor(nyquist,
                                                                                            dtype=torch.float64))
    delta = (mel_high - mel_low) / (config.num_mel_bins + 1)
    edges = mel_low + delta * torch.arange(config.num_mel_bins + 2, dtype=torch.float64)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bins = _mel(torch.arange(fft_size // 2, dtype=torch.float64) * config.sample_rate / fft_size)[None, :]
    rising, falling = (bins - left) / (centre - left), (right - bins) / (right - centre)
    weights = torch.where((bins > left) & (bins < right), torch.where(bins <= centre, rising, falling), 0.0)
    return torch.cat([weights, torch.zeros(config.num_mel_bins, 1, dtype=torch.float64)], dim=1).T.to(dtype)


class TorchFbank(torch.nn.Module):
    """(B, N) float waveforms in [-1, 1] -> (B, T, num_mel_bins) fbank, mean-normalised per row when configured."""

    def __init__(self, config: FbankConfig | None = None):
        super().__init__()
        self.config = config or FbankConfig()
        if self.config.window_type != "povey" or not self.config.snip_edges or self.config.dither != 0:
            raise ValueError("TorchFbank implements the served configuration: povey window, snip_edges, no dither")
        self.length = int(self.config.sample_rate * self.config.frame_length_ms / 1000)
        self.shift = int(self.config.sample_rate * self.config.frame_shift_ms / 1000)
        self.fft_size = 1 << math.ceil(math.log2(self.length))
        n = torch.arange(self.length, dtype=torch.float64)
        window = (0.5 - 0.5 * torch.cos(2 * math.pi * n / (self.length - 1))) ** 0.85
        self.register_buffer("window", window.to(torch.float32), persistent=False)
        self.register_buffer("banks", mel_banks(self.config, self.fft_size), persistent=False)

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Frames of each row's own length (snip_edges framing: whole frames only)."""
        return torch.div(num_samples - self.length, self.shift, rounding_mode="floor") + 1

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """With `lengths` (samples per row), rows are zero-padded utterances of different lengths: each row's frames
        past its own `num_frames` are padding (left for the caller to cut) and its mean covers its own frames only.
        A frame never reaches past the samples it was cut from, so the padding changes no real frame."""
        if waveforms.dim() != 2 or waveforms.shape[1] < self.length:
            raise ValueError(f"expected (B, N >= {self.length}) waveforms, got {tuple(waveforms.shape)}")
        frames = waveforms.unfold(1, self.length, self.shift)  # (B, T, L), snip_edges framing
        frames = frames - frames.mean(dim=2, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=2)  # x[0] is pre-emphasised with itself
        frames = (frames - PREEMPHASIS * previous) * self.window
        spectrum = torch.fft.rfft(frames, n=self.fft_size)
        power = spectrum.real.square() + spectrum.imag.square()
        feats = torch.log(torch.clamp(power @ self.banks, min=LOG_FLOOR))
        if not self.config.mean_normalize:
            return feats
        if lengths is None:
            return feats - feats.mean(dim=1, keepdim=True)
        counts = self.num_frames(lengths.to(feats.device)).clamp(min=1)
        valid = (torch.arange(feats.shape[1], device=feats.device)[None, :] < counts[:, None]).to(feats.dtype)
        mean = (feats * valid[..., None]).sum(dim=1, keepdim=True) / counts[:, None, None].to(feats.dtype)
        return feats - mean


# Padded frames per batch: the FFT stage holds ~6 kB per frame, so ~200 MB at this budget.
BATCH_FRAMES = 32768


def fbank_many(fbank: TorchFbank, waves: list[torch.Tensor], device: torch.device | str = "cpu",
               batch_frames: int = BATCH_FRAMES) -> list[torch.Tensor]:
    """(T_i, bins) features of each 1-D waveform (each at least one frame long), in few padded batches on `device`.

    Rows are sorted by length so that each batch pads little, and a batch grows while its padded frames fit
    `batch_frames` (one row always fits, so a 30 s utterance is never refused for size).
    """
    order = sorted(range(len(waves)), key=lambda i: waves[i].shape[0])
    features: list[torch.Tensor | None] = [None] * len(waves)
    group: list[int] = []
    for index in order:
        longest = fbank.config.num_frames(waves[index].shape[0])
        if group and (len(group) + 1) * longest > batch_frames:
            _compute(fbank, waves, group, features, device)
            group = []
        group.append(index)
    if group:
        _compute(fbank, waves, group, features, device)
    return features


def _compute(fbank: TorchFbank, waves: list[torch.Tensor], group: list[int], features: list, device) -> None:
    lengths = torch.tensor([waves[i].shape[0] for i in group])
    batch = torch.zeros(len(group), int(lengths.max()), dtype=torch.float32)
    for row, index in enumerate(group):
        batch[row, : lengths[row]] = waves[index]
    feats = fbank(batch.to(device, non_blocking=True), lengths.to(device))
    for row, frames in enumerate(fbank.num_frames(lengths).tolist()):
        features[group[row]] = feats[row, :frames]
