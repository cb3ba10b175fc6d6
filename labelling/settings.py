"""The labelling pipeline's settings, in one place (the router's `recordings:` section and the CLI fill them)."""
from __future__ import annotations

from dataclasses import dataclass, field

from labelling.speech import VadParams

MAX_SPEAKERS_LIMIT = 32


@dataclass(frozen=True)
class ClusterSettings:
    # The spectral recipe of 3D-Speaker's diarization: p-pruned cosine affinity, eigengap estimate of the count.
    max_speakers: int = 10
    pval: float = 0.022
    min_pnum: int = 6
    # Fewer windows than this: agglomerative clustering with a cosine threshold (too few points for a spectrum).
    min_spectral_points: int = 20
    ahc_threshold: float = 0.45
    # Clusters with fewer windows join the nearest bigger one; centroids closer than merge_threshold are merged.
    min_cluster_size: int = 4
    merge_threshold: float = 0.8
    # Bound on the affinity matrix (max_points^2 float64, a few copies): beyond it, evenly spaced windows are
    # clustered and every window joins its nearest centroid.
    max_points: int = 1500

    def validate(self, prefix: str = "recordings.") -> None:
        _check(1 <= self.max_speakers <= MAX_SPEAKERS_LIMIT, f"{prefix}max_speakers",
               f"must be 1-{MAX_SPEAKERS_LIMIT}")
        _check(0 < self.pval < 1, f"{prefix}pval", "must be in (0, 1)")
        _check(1 <= self.min_pnum <= 1000, f"{prefix}min_pnum", "must be 1-1000")
        _check(2 <= self.min_spectral_points <= 10_000, f"{prefix}min_spectral_points", "must be 2-10000")
        _check(-1 <= self.ahc_threshold <= 1, f"{prefix}ahc_threshold", "must be in [-1, 1]")
        _check(1 <= self.min_cluster_size <= 1000, f"{prefix}min_cluster_size", "must be 1-1000")
        _check(-1 <= self.merge_threshold <= 1, f"{prefix}merge_threshold", "must be in [-1, 1]")
        _check(50 <= self.max_points <= 10_000, f"{prefix}max_points", "must be 50-10000")


@dataclass(frozen=True)
class LabelSettings:
    window_s: float = 1.5
    hop_s: float = 0.75
    # Windows per embedding request (all of one length), and requests in flight per recording.
    batch_size: int = 16
    in_flight: int = 4
    # VAD chunk per request: a multiple of 512 samples (512 windows = 16.4 s).
    vad_chunk_windows: int = 512
    # Regions shorter than this are not embedded alone: they take the label of the nearest embedded speech.
    min_window_s: float = 0.3
    vad: VadParams = field(default_factory=VadParams)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def validate(self, prefix: str = "recordings.") -> None:
        _check(0.5 <= self.window_s <= 10, f"{prefix}window_s", "must be 0.5-10 s")
        _check(0.1 <= self.hop_s <= self.window_s, f"{prefix}hop_s", "must be 0.1 s to window_s")
        _check(1 <= self.batch_size <= 256, f"{prefix}batch_size", "must be 1-256")
        _check(1 <= self.in_flight <= 64, f"{prefix}in_flight", "must be 1-64")
        _check(1 <= self.vad_chunk_windows <= 4096, f"{prefix}vad_chunk_windows", "must be 1-4096")
        _check(0.1 <= self.min_window_s <= self.window_s, f"{prefix}min_window_s", "must be 0.1 s to window_s")
        self.vad.validate(f"{prefix}vad.")
        self.cluster.validate(prefix)


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ValueError(f"{key}: {why}")
