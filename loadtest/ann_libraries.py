"""The 1:N index libraries that loadtest/bench_store.py compares, behind one small interface.

Each class builds an index over unit rows (row i gets id i), answers one query with its top-k ids and
cosine scores, best first, and tells its size; `values` are its search-time settings (ef, nprobe,
expansion_search) and `set` picks one. Quantised indexes (FAISS HNSW-SQ8, USearch f16/i8) return
approximate scores, so `search` re-scores their top-k against the float rows (timed with the search)
and `rescored` is True: a store using them keeps the float rows too (1:1 verify reads them as well),
so `bytes_per_vector` counts them. FAISS IVF re-ranks with exact float scores itself (IndexRefineFlat).
"""
from __future__ import annotations

import importlib
import os
import sys
import time

import numpy as np

from store.hnsw_index import VectorIndex


class AnnLibrary:
    name = ""
    module = ""          # what must be importable for this library to run
    knob = ""            # the search-time setting `values` lists
    rescored = False

    def __init__(self, dim: int, args):
        self.dim, self.args, self.n = dim, args, 0
        self.values: list[int] = []

    def build(self, db: np.ndarray) -> None:
        self.n, self._db = len(db), db
        t0 = time.perf_counter()
        for start in range(0, self.n, self.args.build_chunk):
            stop = min(self.n, start + self.args.build_chunk)
            self._add(db, start, stop)
            if self.args.progress:
                print(f"  {self.name}: {stop}/{self.n} inserted, {time.perf_counter() - t0:.0f}s",
                      file=sys.stderr, flush=True)
        self._built()

    def _add(self, db: np.ndarray, start: int, stop: int) -> None:
        raise NotImplementedError

    def _built(self) -> None:
        """Called once every row is in (FAISS goes back to one query thread here)."""

    def set(self, value: int) -> None:
        raise NotImplementedError

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def own_bytes(self) -> int:
        """The library's own size (its figure, or its serialized size)."""
        raise NotImplementedError

    def bytes_per_vector(self) -> float:
        return self.own_bytes() / self.n + (4 * self.dim if self.rescored else 0)

    def _rescore(self, ids: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, np.int64)
        ids = ids[ids >= 0]
        scores = self._db[ids] @ q
        order = np.argsort(-scores, kind="stable")[:k]
        return ids[order], scores[order]


class Hnswlib(AnnLibrary):
    """The store's own index (store.hnsw_index.VectorIndex), user ids and all, as the service runs it."""
    name, module, knob = "hnswlib", "hnswlib", "ef"

    def __init__(self, dim: int, args):
        super().__init__(dim, args)
        self.values = list(args.ef)
        self._index = VectorIndex(dim, exact_below=0, m=args.M, ef_construction=args.ef_construction,
                                  ef=args.ef[0], build_threads=args.threads)

    def _add(self, db, start, stop):
        self._index.bulk_upsert([(f"{i:032x}", db[i:i + 1]) for i in range(start, stop)])

    def set(self, value):
        self._index._ef = value

    def search(self, q, k):
        found = self._index.search(q, k)
        return np.array([int(u, 16) for u, _ in found], np.int64), np.array([s for _, s in found], np.float32)

    def own_bytes(self):
        return self._index._hnsw.index_file_size()


class _Faiss(AnnLibrary):
    module = "faiss"

    def __init__(self, dim: int, args):
        super().__init__(dim, args)
        self.faiss = importlib.import_module("faiss")
        self.faiss.omp_set_num_threads(args.threads or os.cpu_count())   # build threads, restored per build

    def _train(self, db: np.ndarray, points: int) -> None:
        rows = np.random.default_rng(0).choice(len(db), min(len(db), points), replace=False)
        self._index.train(db[np.sort(rows)])

    def _add(self, db, start, stop):
        self._index.add(db[start:stop])

    def _built(self):
        self.faiss.omp_set_num_threads(1)   # single-thread queries

    def own_bytes(self):
        return int(self.faiss.serialize_index(self._index).size)


class FaissHnswSQ8(_Faiss):
    """IndexHNSWSQ: an HNSW graph over 8-bit scalar-quantised rows, inner product."""
    name, knob, rescored = "faiss-hnsw-sq8", "efSearch", True

    def __init__(self, dim: int, args):
        super().__init__(dim, args)
        self.values = list(args.faiss_ef or args.ef)
        f = self.faiss
        self._index = f.IndexHNSWSQ(dim, f.ScalarQuantizer.QT_8bit, args.M, f.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = args.ef_construction

    def build(self, db):
        self._train(db, 100_000)
        super().build(db)

    def set(self, value):
        self._index.hnsw.efSearch = value

    def search(self, q, k):
        _, ids = self._index.search(q[None, :], k)
        return self._rescore(ids[0], q, k)


class FaissIvfRefine(_Faiss):
    """IVF with compressed codes (--ivf-codec, PQ by default), top k x --refine re-ranked on float rows."""
    name, knob = "faiss-ivf", "nprobe"

    def __init__(self, dim: int, args):
        super().__init__(dim, args)
        self.values = list(args.nprobe)
        self.nlist = args.nlist or ivf_lists(args.n)
        codec = args.ivf_codec or f"PQ{dim // 8}np"   # np: no polysemous training (slow, unused)
        self.name = f"faiss-ivf{self.nlist}-{codec.lower()}-rflat"
        f = self.faiss
        # IndexRefineFlat does not own its base index: keep a reference to it for as long as the index.
        self._base = f.index_factory(dim, f"IVF{self.nlist},{codec}", f.METRIC_INNER_PRODUCT)
        self._index = f.IndexRefineFlat(self._base)
        self._index.k_factor = args.refine

    def build(self, db):
        self._train(db, 32 * self.nlist)
        super().build(db)

    def set(self, value):
        self.faiss.extract_index_ivf(self._index).nprobe = value

    def search(self, q, k):
        scores, ids = self._index.search(q[None, :], k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]


def ivf_lists(n: int) -> int:
    """A power of two near 4 * sqrt(n), the usual IVF list count (2,048 at 200k, 4,096 at 1M)."""
    return int(2 ** round(np.log2(4 * np.sqrt(n))))


class _USearch(AnnLibrary):
    """USearch's HNSW over rows quantised to `dtype`, cosine metric."""
    module, knob, rescored, dtype = "usearch.index", "expansion_search", True, ""

    def __init__(self, dim: int, args):
        super().__init__(dim, args)
        self.values = list(args.usearch_ef or args.ef)
        index_cls = importlib.import_module("usearch.index").Index
        self._index = index_cls(ndim=dim, metric="cos", dtype=self.dtype, connectivity=args.M,
                                expansion_add=args.ef_construction, expansion_search=self.values[0])

    def _add(self, db, start, stop):
        self._index.add(np.arange(start, stop), db[start:stop], threads=self.args.threads)

    def set(self, value):
        self._index.expansion_search = value

    def search(self, q, k):
        return self._rescore(self._index.search(q, k, threads=1).keys, q, k)

    def own_bytes(self):
        return int(self._index.serialized_length)


class USearchF16(_USearch):
    name, dtype = "usearch-f16", "f16"


class USearchI8(_USearch):
    name, dtype = "usearch-i8", "i8"


LIBRARIES: dict[str, type[AnnLibrary]] = {
    c.name: c for c in (Hnswlib, FaissHnswSQ8, USearchF16, USearchI8)} | {"faiss-ivf": FaissIvfRefine}
GROUPS = {"faiss": ["faiss-hnsw-sq8", "faiss-ivf"], "usearch": ["usearch-f16", "usearch-i8"],
          "all": list(LIBRARIES)}


def resolve(names: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The libraries to run (in order) and those missing, with why; None means all of them."""
    wanted: list[str] = []
    for name in names or ["all"]:
        if name not in LIBRARIES and name not in GROUPS:
            raise SystemExit(f"unknown library {name!r}: choose from {', '.join([*LIBRARIES, *GROUPS])}")
        wanted += [m for m in GROUPS.get(name, [name]) if m not in wanted]
    run, missing = [], {}
    for name in wanted:
        try:
            importlib.import_module(LIBRARIES[name].module)
            run.append(name)
        except ImportError as e:
            missing[name] = f"not installed ({LIBRARIES[name].module}: {e})"
    return run, missing
