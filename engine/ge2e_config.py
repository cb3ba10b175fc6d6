"""The GE2E (Resemblyzer) front end's settings, defaulting to Resemblyzer 0.1.4's `hparams.py`.

Like FbankConfig for CAM++: the export writes these into the features model's config `parameters`, the Triton
model reads them back, so the numbers live in one place.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Ge2eConfig:
    sample_rate: int = 16000
    mel_window_ms: int = 25
    mel_step_ms: int = 10
    num_mel_bins: int = 40
    partial_frames: int = 160  # 1.6 s windows, the length the LSTM was trained on
    partial_rate: float = 1.3  # VoiceEncoder.embed_utterance defaults
    min_coverage: float = 0.75
    vad_window_ms: int = 30
    vad_mode: int = 3
    vad_average_width: int = 8
    vad_max_silence: int = 6
    target_dbfs: int = -30  # an int as in Resemblyzer, so numpy computes the gain in the same precision
    # Ours, not Resemblyzer's: less speech than this after silence trimming is refused (INVALID_ARG).
    min_speech_ms: int = 100

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "Ge2eConfig":
        """Builds a config from Triton model-config `parameters` (all strings); unknown keys are ignored."""
        kinds = {f.name: type(f.default) for f in fields(cls)}
        return cls(**{name: kinds[name](value) for name, value in params.items() if name in kinds})

    def as_params(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items()}

    @property
    def n_fft(self) -> int:
        return self.sample_rate * self.mel_window_ms // 1000

    @property
    def hop(self) -> int:
        return self.sample_rate * self.mel_step_ms // 1000

    @property
    def vad_window(self) -> int:
        return self.vad_window_ms * self.sample_rate // 1000

    @property
    def min_speech_samples(self) -> int:
        return self.min_speech_ms * self.sample_rate // 1000
