"""In-memory 1:N index over normalised vectors: exact (numpy) while small, hnswlib once large.

Each user owns one or more rows (see embeddings.index_rows); a user's score is the max cosine
over its rows. Below `exact_below` rows the search is a brute-force matrix product, so small
deployments never see an ANN miss; past it, the rows move into an hnswlib graph once (it then
grows by resize, and deletes are mark_deleted slots that later inserts reuse).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable

import hnswlib
import numpy as np

_MIN_CAPACITY = 1024


class VectorIndex:
    def __init__(self, dim: int, *, exact_below: int = 20_000, m: int = 16, ef_construction: int = 200,
                 ef: int = 64, build_threads: int = 0):
        self.dim = dim
        self._exact_below = exact_below
        self._m, self._efc, self._ef = m, ef_construction, ef
        self._build_threads = build_threads or -1
        # One lock: hnswlib's resize/mark_deleted/set_ef are not safe against concurrent queries.
        self._lock = threading.Lock()
        self._labels: dict[str, np.ndarray] = {}   # user_id -> its row labels
        self._owner: dict[int, str] = {}            # label -> user_id
        self._max_rows = 1                          # most rows any user has had (an upper bound)
        # Exact mode: label == row of _mat; freed rows are reused; _live masks the freed ones.
        self._mat: np.ndarray | None = np.zeros((0, dim), np.float32)
        self._live = np.zeros(0, bool)
        self._free: list[int] = []
        self._hnsw: hnswlib.Index | None = None
        self._next_label = 0

    # --- introspection --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, user_id: str) -> bool:
        return user_id in self._labels

    @property
    def vectors(self) -> int:
        return len(self._owner)

    @property
    def mode(self) -> str:
        return "exact" if self._hnsw is None else "hnsw"

    # --- writes ---------------------------------------------------------------------------
    def upsert(self, user_id: str, rows: np.ndarray) -> None:
        """Replace the user's rows (rows must be L2-normalised, shape (n, dim))."""
        self.bulk_upsert([(user_id, rows)])

    def bulk_upsert(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        items = list(items)
        if not items:
            return
        with self._lock:
            for user_id, _ in items:
                self._remove_locked(user_id)
            rows = np.vstack([r for _, r in items]).astype(np.float32, copy=False)
            owners = [uid for uid, r in items for _ in range(r.shape[0])]
            if self._hnsw is None and len(self._owner) + len(owners) > self._exact_below:
                self._switch_to_hnsw(extra=len(owners))
            labels = self._add_hnsw(rows) if self._hnsw is not None else self._add_exact(rows)
            start = 0
            for user_id, r in items:
                n = r.shape[0]
                self._labels[user_id] = labels[start:start + n]
                self._max_rows = max(self._max_rows, n)
                start += n
            self._owner.update(zip(labels.tolist(), owners))

    def remove(self, user_id: str) -> bool:
        with self._lock:
            return self._remove_locked(user_id)

    def _remove_locked(self, user_id: str) -> bool:
        labels = self._labels.pop(user_id, None)
        if labels is None:
            return False
        for label in labels.tolist():
            del self._owner[label]
        if self._hnsw is not None:
            # Erasure: overwrite the rows before mark_deleted, which alone leaves the vectors in
            # memory until the slots are reused. A random unit row keeps the graph well-formed.
            filler = np.random.default_rng().standard_normal((len(labels), self.dim)).astype(np.float32)
            self._hnsw.add_items(filler / np.linalg.norm(filler, axis=1, keepdims=True), labels, num_threads=1)
            for label in labels.tolist():
                self._hnsw.mark_deleted(label)
        else:
            self._mat[labels] = 0.0
            self._live[labels] = False
            self._free.extend(labels.tolist())
        return True

    def _add_exact(self, rows: np.ndarray) -> np.ndarray:
        n = rows.shape[0]
        reuse = [self._free.pop() for _ in range(min(n, len(self._free)))]
        fresh = n - len(reuse)
        capacity, top = self._mat.shape[0], self._next_label
        if top + fresh > capacity:
            grown = np.zeros((max(_MIN_CAPACITY, 2 * capacity, top + fresh), self.dim), np.float32)
            grown[:top] = self._mat[:top]
            live = np.zeros(grown.shape[0], bool)
            live[:top] = self._live[:top]
            self._mat, self._live = grown, live
        labels = np.array(reuse + list(range(top, top + fresh)), dtype=np.int64)
        self._next_label = top + fresh
        self._mat[labels] = rows
        self._live[labels] = True
        return labels

    def _new_hnsw(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(max_elements=capacity, M=self._m, ef_construction=self._efc,
                         allow_replace_deleted=True)
        index.set_ef(self._ef)
        return index

    def _switch_to_hnsw(self, extra: int) -> None:
        labels = np.fromiter(self._owner.keys(), dtype=np.int64, count=len(self._owner))
        self._hnsw = self._new_hnsw(max(_MIN_CAPACITY, 2 * (len(labels) + extra)))
        if len(labels):
            self._hnsw.add_items(self._mat[labels], labels, num_threads=self._build_threads)
        self._mat, self._live, self._free = None, None, []

    def _add_hnsw(self, rows: np.ndarray) -> np.ndarray:
        n = rows.shape[0]
        h = self._hnsw
        # Deleted slots are reused by replace_deleted, so only count live ones against capacity.
        if len(self._owner) + n > h.get_max_elements():
            h.resize_index(max(2 * h.get_max_elements(), len(self._owner) + n))
        labels = np.arange(self._next_label, self._next_label + n, dtype=np.int64)
        self._next_label += n
        threads = self._build_threads if n > 1000 else 1
        h.add_items(rows, labels, num_threads=threads, replace_deleted=True)
        return labels

    # --- reads ----------------------------------------------------------------------------
    def score(self, user_id: str, query: np.ndarray) -> float | None:
        """Max cosine between the (normalised) query and the user's rows; None if unknown."""
        with self._lock:
            labels = self._labels.get(user_id)
            if labels is None:
                return None
            if self._hnsw is None:
                rows = self._mat[labels]
            else:
                rows = np.asarray(self._hnsw.get_items(labels), dtype=np.float32)
        return float(np.max(rows @ query))

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k users by score, best first."""
        with self._lock:
            live = len(self._owner)
            if live == 0 or k <= 0:
                return []
            if self._hnsw is None:
                return self._search_exact(query, k)
            return self._search_hnsw(query, k, live)

    def _search_exact(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        # One matrix-vector product over the used rows (no gather copy); freed rows can't win.
        top_row = self._next_label
        scores = self._mat[:top_row] @ query
        scores[~self._live[:top_row]] = -np.inf
        fetch = min(len(self._owner), k * self._max_rows)
        best = np.argpartition(-scores, fetch - 1)[:fetch] if fetch < top_row else np.arange(top_row)
        best = best[np.argsort(-scores[best], kind="stable")]
        best = best[np.isfinite(scores[best])]
        return self._distinct(best.tolist(), scores[best].tolist(), k)

    def _search_hnsw(self, query: np.ndarray, k: int, live: int) -> list[tuple[str, float]]:
        fetch, ef = min(live, k), self._ef
        while True:
            self._hnsw.set_ef(max(ef, fetch))
            try:
                labels, dist = self._hnsw.knn_query(query[None, :], k=fetch, num_threads=1)
            except RuntimeError:
                # Too few live neighbours reachable at this ef (many deletions): search wider.
                if ef >= live:
                    raise
                ef *= 4
                continue
            found = self._distinct(labels[0].tolist(), (1.0 - dist[0]).tolist(), k)
            # Several rows per user (max policy) can crowd the top: widen until k distinct users.
            if len(found) >= min(k, len(self._labels)) or fetch >= live:
                return found
            fetch = min(live, fetch * 2)

    def _distinct(self, labels: list[int], scores: list[float], k: int) -> list[tuple[str, float]]:
        seen: dict[str, float] = {}
        for label, score in zip(labels, scores):
            user = self._owner.get(label)
            if user is not None and user not in seen:
                seen[user] = float(score)
                if len(seen) == k:
                    break
        return list(seen.items())
