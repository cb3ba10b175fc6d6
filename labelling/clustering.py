"""Groups window embeddings by speaker: spectral clustering with an eigengap estimate of the number of speakers
(3D-Speaker's diarization recipe), agglomerative clustering below a few windows, then clean-up.

Memory is bounded by `max_points`: the affinity matrix and the Laplacian are max_points^2 float64 each. Beyond it,
evenly spaced windows are clustered and every window then joins its nearest centroid.
"""
from __future__ import annotations

import numpy as np

from labelling.settings import ClusterSettings


def cluster(embeddings: np.ndarray, settings: ClusterSettings, num_speakers: int | None = None) -> np.ndarray:
    """(N, D) unit vectors -> labels 0..K-1 (N,), numbered by first appearance."""
    count = embeddings.shape[0]
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if num_speakers is not None and num_speakers >= count:
        return np.arange(count)
    if count == 1 or num_speakers == 1:
        return np.zeros(count, dtype=np.int64)
    points = _normalised(embeddings, np.float32)  # float64 only for the (bounded) points that are clustered
    if count > settings.max_points:
        sample = np.linspace(0, count - 1, settings.max_points).round().astype(np.int64)
        chosen = points[sample].astype(np.float64)
        labels = assign(points, centroids(chosen, _cluster_points(chosen, settings, num_speakers)))
    else:
        labels = _cluster_points(points.astype(np.float64), settings, num_speakers)
    if num_speakers is None:
        labels = _absorb_small(points, labels, settings.min_cluster_size)
        labels = _merge_close(points, labels, settings.merge_threshold)
    return _renumber(labels)


def centroids(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit-length mean of each label's points, (K, D) for labels 0..K-1."""
    return _normalised(np.stack([points[labels == k].mean(axis=0) for k in range(labels.max() + 1)]))


def assign(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.argmax(points @ centres.T, axis=1)


def _cluster_points(points: np.ndarray, settings: ClusterSettings, num_speakers: int | None) -> np.ndarray:
    if points.shape[0] < settings.min_spectral_points:
        return _ahc(points, settings.ahc_threshold, num_speakers)
    return _spectral(points, settings, num_speakers)


def _ahc(points: np.ndarray, threshold: float, num_speakers: int | None) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage  # imported when first needed: see _spectral

    tree = linkage(points, method="average", metric="cosine")
    if num_speakers is not None:
        return fcluster(tree, t=num_speakers, criterion="maxclust") - 1
    return fcluster(tree, t=1.0 - threshold, criterion="distance") - 1  # cosine distance = 1 - similarity


def _spectral(points: np.ndarray, settings: ClusterSettings, num_speakers: int | None) -> np.ndarray:
    # scipy and scikit-learn cost a router ~150 MB of RSS once imported: only a labelling job pays for them.
    import scipy.linalg
    from sklearn.cluster import KMeans

    affinity = _pruned(points @ points.T, settings)
    affinity = 0.5 * (affinity + affinity.T)
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(np.abs(affinity).sum(axis=1)) - affinity
    del affinity
    top = min(settings.max_speakers + 1, points.shape[0]) - 1
    values, vectors = scipy.linalg.eigh(laplacian, subset_by_index=[0, top])
    count = num_speakers or int(np.argmax(np.diff(values[: settings.max_speakers + 1]))) + 1
    spectral = vectors[:, :count]
    return KMeans(n_clusters=count, n_init=10, random_state=0).fit_predict(spectral)


def _pruned(similarity: np.ndarray, settings: ClusterSettings) -> np.ndarray:
    """Keeps each row's strongest (pval share, at least min_pnum) affinities, zeroing the rest (p-pruning)."""
    count = similarity.shape[0]
    pval = settings.pval if count * settings.pval >= settings.min_pnum else settings.min_pnum / count
    dropped = int((1.0 - pval) * count)
    weakest = np.argpartition(similarity, dropped - 1, axis=1)[:, :dropped] if dropped > 0 else None
    if weakest is not None:
        np.put_along_axis(similarity, weakest, 0.0, axis=1)
    return similarity


def _absorb_small(points: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes >= min_size)
    if big.size == 0 or big.size == sizes.size:
        return labels
    centres = centroids(points, labels)[big]
    small = ~np.isin(labels, big)
    labels = labels.copy()
    labels[small] = big[assign(points[small], centres)]
    return labels


def _merge_close(points: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """Joins clusters whose centroids are more alike than `threshold`, most alike first."""
    labels = _renumber(labels)
    while labels.max() > 0:
        centres = centroids(points, labels)
        similarity = centres @ centres.T
        np.fill_diagonal(similarity, -np.inf)
        first, second = np.unravel_index(np.argmax(similarity), similarity.shape)
        if similarity[first, second] <= threshold:
            break
        labels = _renumber(np.where(labels == max(first, second), min(first, second), labels))
    return labels


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels 0..K-1 in order of first appearance."""
    _, first = np.unique(labels, return_index=True)
    order = labels[np.sort(first)]
    mapping = {old: new for new, old in enumerate(order)}
    return np.array([mapping[label] for label in labels], dtype=np.int64)


def _normalised(vectors: np.ndarray, dtype=np.float64) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=dtype)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
