"""labelling.clustering on embeddings with a known speaker structure."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from labelling.clustering import cluster
from labelling.settings import ClusterSettings


def _speakers(counts: list[int], dim: int = 64, spread: float = 0.35, seed: int = 0):
    """Unit vectors around one random direction per speaker, interleaved like turns; returns (points, truth)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(counts), dim))
    truth = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    rng.shuffle(truth)
    points = centres[truth] / np.linalg.norm(centres[truth], axis=1, keepdims=True)
    points = points + spread * rng.standard_normal(points.shape) / np.sqrt(dim)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), truth


def _same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    pairs = {(int(a), int(b)) for a, b in zip(labels, truth)}
    return len(pairs) == len(set(labels)) == len(set(truth))


@pytest.mark.parametrize("speakers", [1, 2, 4, 7])
def test_spectral_estimates_the_number_of_speakers(speakers):
    points, truth = _speakers([60] * speakers)
    labels = cluster(points, ClusterSettings())
    assert _same_partition(labels, truth), (speakers, len(set(labels)))
    assert labels[0] == 0 and set(labels) == set(range(speakers))  # numbered by first appearance


def test_num_speakers_hint_is_obeyed():
    points, truth = _speakers([50, 50, 50])
    assert len(set(cluster(points, ClusterSettings(), num_speakers=2))) == 2
    assert _same_partition(cluster(points, ClusterSettings(), num_speakers=3), truth)


def test_few_windows_use_a_threshold():
    points, truth = _speakers([5, 6], spread=0.2)
    assert _same_partition(cluster(points, ClusterSettings()), truth)
    assert len(set(cluster(points[:1], ClusterSettings()))) == 1
    assert cluster(points[:0], ClusterSettings()).size == 0


def test_tiny_clusters_join_a_big_one_and_twins_merge():
    points, truth = _speakers([80, 80, 2], seed=4)
    labels = cluster(points, ClusterSettings(min_cluster_size=4))
    assert len(set(labels)) == 2  # the 2-window speaker is absorbed, not reported as a speaker
    twins = np.concatenate([points[truth == 0], points[truth == 0] + 1e-3])
    assert len(set(cluster(twins, ClusterSettings(), num_speakers=None))) == 1


def test_many_windows_are_subsampled_within_the_memory_bound():
    points, truth = _speakers([1500, 1500, 1500, 1500], seed=2)  # ~2 h of speech at a 0.75 s hop
    settings = ClusterSettings(max_points=1000)
    tracemalloc.start()
    labels = cluster(points, settings)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert _same_partition(labels, truth)
    # About five max_points^2 float64 matrices (affinity, its symmetric copy, Laplacian, eigh's workspace).
    assert peak <= 6 * settings.max_points ** 2 * 8 + 3 * points.nbytes, peak / 2 ** 20
