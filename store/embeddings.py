"""Checks and shapes embeddings: float32, finite, non-zero, of the store's dimension; L2 normalisation."""
from __future__ import annotations

import numpy as np

from .errors import InvalidEmbedding


def as_embedding(x, dim: int | None) -> np.ndarray:
    """One vector, validated and returned as float32 (not normalised: the raw enrollment is what we keep)."""
    try:
        v = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidEmbedding("embedding is not a numeric vector") from None
    if v.ndim != 1 or v.size == 0:
        raise InvalidEmbedding(f"embedding must be a 1-D vector, got shape {v.shape}")
    if dim is not None and v.shape[0] != dim:
        raise InvalidEmbedding(f"embedding has {v.shape[0]} dims, the store holds {dim}")
    if not np.isfinite(v).all():
        raise InvalidEmbedding("embedding has NaN or infinite values")
    if not np.any(v):
        raise InvalidEmbedding("embedding is the zero vector")
    return v


def as_embeddings(xs, dim: int | None) -> np.ndarray:
    """A non-empty list of vectors of one dimension, stacked (n, d)."""
    if xs is None or len(xs) == 0:
        raise InvalidEmbedding("at least one enrollment embedding is required")
    rows = [as_embedding(x, dim) for x in xs]
    if len({r.shape[0] for r in rows}) != 1:
        raise InvalidEmbedding("enrollment embeddings have different dimensions")
    return np.stack(rows)


def normalise(m: np.ndarray) -> np.ndarray:
    m = np.atleast_2d(np.asarray(m, dtype=np.float32))
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    if not np.all(norms > 0):
        # float32 underflow of a tiny but non-zero vector: refuse rather than divide by zero.
        raise InvalidEmbedding("embedding norm underflows to zero")
    return m / norms


def index_rows(enrollments: np.ndarray, policy: str) -> np.ndarray:
    """What the index holds for one user: the normalised centroid, or every normalised enrollment.

    A user's score is then the max cosine over these rows for both policies.
    """
    unit = normalise(enrollments)
    if policy == "centroid":
        return normalise(unit.mean(axis=0))
    return unit
