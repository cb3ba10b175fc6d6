"""VectorIndex: exact below the threshold, hnswlib above, and hnswlib recall against exact search."""
import numpy as np
import pytest

from store.embeddings import index_rows, normalise
from store.hnsw_index import VectorIndex

from .conftest import unit


def clustered(rng, n: int, dim: int, group: int = 20) -> np.ndarray:
    centres = unit(rng, dim, n // group)
    pts = np.repeat(centres, group, axis=0) + rng.standard_normal((n, dim)).astype(np.float32) * (1.2 / np.sqrt(dim))
    return normalise(pts)


def test_exact_mode_basics(rng):
    idx = VectorIndex(8, exact_below=100)
    a, b = unit(rng, 8), unit(rng, 8)
    idx.upsert("a", a[None])
    idx.upsert("b", b[None])
    assert idx.mode == "exact" and len(idx) == 2
    assert idx.search(a, 5)[0] == ("a", pytest.approx(1.0, abs=1e-6))
    assert idx.score("b", b) == pytest.approx(1.0, abs=1e-6)
    assert idx.score("zz", b) is None
    idx.upsert("a", b[None])  # replace a's rows
    assert idx.score("a", b) == pytest.approx(1.0, abs=1e-6) and idx.vectors == 2
    assert idx.remove("a") and not idx.remove("a")
    assert [u for u, _ in idx.search(b, 5)] == ["b"]


def test_switches_to_hnsw_and_grows_without_rebuild(rng):
    idx = VectorIndex(16, exact_below=50)
    vecs = unit(rng, 16, 3000)
    for i in range(60):
        idx.upsert(f"u{i}", vecs[i][None])
    assert idx.mode == "hnsw"
    idx.bulk_upsert([(f"u{i}", vecs[i][None]) for i in range(60, 3000)])  # past the initial capacity
    assert len(idx) == 3000
    for i in (0, 59, 1500, 2999):
        assert idx.search(vecs[i], 1)[0][0] == f"u{i}"
        assert idx.score(f"u{i}", vecs[i]) == pytest.approx(1.0, abs=1e-5)  # exact, from stored rows
    assert idx.score("u1", vecs[2]) == pytest.approx(float(vecs[1] @ vecs[2]), abs=1e-5)


def test_hnsw_deletes_and_reuses_slots(rng):
    idx = VectorIndex(16, exact_below=0)
    vecs = unit(rng, 16, 400)
    idx.bulk_upsert([(f"u{i}", vecs[i][None]) for i in range(400)])
    for i in range(0, 400, 2):
        idx.remove(f"u{i}")
    assert len(idx) == 200
    hits = idx.search(vecs[10], 50)
    assert all(int(u[1:]) % 2 == 1 for u, _ in hits)
    fresh = unit(rng, 16, 200)
    idx.bulk_upsert([(f"n{i}", fresh[i][None]) for i in range(200)])
    assert len(idx) == 400 and idx.search(fresh[3], 1)[0][0] == "n3"


def test_max_policy_rows_give_distinct_users(rng):
    idx = VectorIndex(16, exact_below=0)
    for i in range(100):
        idx.upsert(f"u{i}", index_rows(unit(rng, 16, 4), "max"))
    hits = idx.search(unit(rng, 16), 10)
    assert len(hits) == 10 and len({u for u, _ in hits}) == 10
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)


def test_hnsw_recall_matches_exact_search(rng):
    """hnswlib at its default settings against brute force on clustered data with noisy queries."""
    dim, n = 64, 8000
    data = clustered(rng, n, dim)
    exact = VectorIndex(dim, exact_below=n + 1)
    ann = VectorIndex(dim, exact_below=0)
    items = [(f"u{i}", data[i][None]) for i in range(n)]
    exact.bulk_upsert(items)
    ann.bulk_upsert(items)
    assert (exact.mode, ann.mode) == ("exact", "hnsw")
    picks = rng.choice(n, 300, replace=False)
    queries = normalise(data[picks] + rng.standard_normal((300, dim)).astype(np.float32) * (0.5 / np.sqrt(dim)))
    hits = sum(ann.search(q, 1)[0][0] == exact.search(q, 1)[0][0] for q in queries)
    assert hits / len(queries) >= 0.97


@pytest.mark.parametrize("exact_below", [0, 1000])
def test_removed_vectors_are_overwritten(rng, exact_below):
    """Erasure reaches the index memory too, not only its bookkeeping (mark_deleted keeps the bytes)."""
    idx = VectorIndex(16, exact_below=exact_below)
    vecs = unit(rng, 16, 50)
    idx.bulk_upsert([(f"u{i}", vecs[i][None]) for i in range(50)])
    label = int(idx._labels["u7"][0])
    idx.remove("u7")
    if idx.mode == "hnsw":
        idx._hnsw.unmark_deleted(label)  # get_items refuses deleted labels; peek, then restore
        stored = np.asarray(idx._hnsw.get_items([label]))[0]
        idx._hnsw.mark_deleted(label)
    else:
        stored = idx._mat[label]
    assert abs(float(stored @ vecs[7])) < 0.9
