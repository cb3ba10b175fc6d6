"""Benchmark of the store's 1:N index (store.hnsw_index.VectorIndex) at scale; a program, not a test.

Synthetic but clustered data: speakers are drawn around group centres (so near neighbours are
close, unlike uniform random vectors), each speaker has several noisy enrollments whose
normalised centroid is the indexed voiceprint (the "centroid" policy), and queries are fresh
noisy samples of enrolled speakers ("genuine") or of unenrolled speakers from the same groups
("impostor": no clear winner, the hard case for an ANN). The defaults are calibrated to CAM++
score scales: genuine cosine ~0.7, random pairs ~0 +- 0.09 (both printed with the results);
--decay 0 gives isotropic clusters, the worst case for any ANN graph. In one run it reports build time,
memory per voiceprint, p50/p99 single-query latency and recall@1 against exact search, for each
ef in --ef, and writes the figures as JSON.

    python loadtest/bench_store.py --n 1000000 --dims 512 192
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from store.hnsw_index import VectorIndex  # noqa: E402

CHUNK = 50_000


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def unit_rows(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


class Population:
    """Deterministic clustered speakers: group centre -> speaker centre -> samples.

    `decay` shapes the variance spectrum: 0 is isotropic (every direction equally used: all
    clusters mutually orthogonal, the worst case for any ANN graph); > 0 makes variance fall
    off as (i+1)^-decay per coordinate, as in real speaker embeddings, whose speaker variance
    sits in far fewer directions than their 192/512 dims (which is why LDA/PLDA to ~100-200
    dims loses little). The effective dimension (participation ratio) is printed with results.
    """

    def __init__(self, dim: int, group_size: int, spread: float, noise: float, seed: int, decay: float):
        self.dim, self.group_size, self.spread, self.noise, self.seed = dim, group_size, spread, noise, seed
        spectrum = (1.0 + np.arange(dim)) ** (-decay)
        # Scaled so a noise vector has norm ~scale whatever the dim and decay.
        self.scales = (spectrum / np.linalg.norm(spectrum)).astype(np.float32)
        var = self.scales ** 2
        self.effective_dim = float(var.sum() ** 2 / (var ** 2).sum())

    def _noise(self, rng, n: int, scale: float) -> np.ndarray:
        return rng.standard_normal((n, self.dim), dtype=np.float32) * (self.scales * scale)

    def centres(self, start: int, n: int) -> np.ndarray:
        """Speaker centres start..start+n (the same speakers whatever the chunking)."""
        out = np.empty((n, self.dim), np.float32)
        for g in range(start // self.group_size, (start + n - 1) // self.group_size + 1):
            lo, hi = max(start, g * self.group_size), min(start + n, (g + 1) * self.group_size)
            rng = np.random.default_rng((self.seed, g))
            group = unit_rows(self._noise(rng, 1, 1.0))
            members = group + self._noise(rng, self.group_size, self.spread)
            out[lo - start:hi - start] = unit_rows(members[lo - g * self.group_size:hi - g * self.group_size])
        return out

    def samples(self, centres: np.ndarray, per: int, rng) -> np.ndarray:
        """`per` noisy samples of each centre, shape (n, per, dim), each row normalised."""
        n = centres.shape[0]
        s = np.repeat(centres, per, axis=0) + self._noise(rng, n * per, self.noise)
        return unit_rows(s).reshape(n, per, self.dim)


def build_voiceprints(pop: Population, n: int, enrollments: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng((seed, 1))
    out = np.empty((n, pop.dim), np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        enr = pop.samples(pop.centres(start, m), enrollments, rng)
        out[start:start + m] = unit_rows(enr.mean(axis=1))
    return out


def exact_top1(db: np.ndarray, queries: np.ndarray) -> np.ndarray:
    best_score = np.full(len(queries), -np.inf, np.float32)
    best = np.zeros(len(queries), np.int64)
    for start in range(0, len(db), 200_000):
        s = db[start:start + 200_000] @ queries.T
        arg = s.argmax(axis=0)
        val = s[arg, np.arange(len(queries))]
        better = val > best_score
        best_score[better], best[better] = val[better], arg[better] + start
    return best


def measure_queries(index: VectorIndex, queries: np.ndarray, expected: list[str]) -> dict:
    """Latency of one top-5 search per query, and how often the nearest found is the exact nearest."""
    for q in queries[:50]:
        index.search(q, 5)  # warm-up
    lat, hit = np.empty(len(queries)), 0
    for j, q in enumerate(queries):
        t = time.perf_counter()
        found = index.search(q, 5)
        lat[j] = time.perf_counter() - t
        hit += found[0][0] == expected[j]
    return {"p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 3),
            "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 3), "recall_at_1": round(hit / len(queries), 4)}


def run_dim(args, dim: int) -> dict:
    pop = Population(dim, args.group_size, args.spread, args.noise, args.seed, args.decay)
    t0 = time.perf_counter()
    db = build_voiceprints(pop, args.n, args.enrollments, args.seed)
    gen_s = time.perf_counter() - t0
    qrng = np.random.default_rng((args.seed, 2))
    genuine_ids = qrng.choice(args.n, args.queries, replace=False)
    genuine = np.vstack([pop.samples(pop.centres(int(i), 1), 1, qrng)[0] for i in genuine_ids])
    # Impostors: speakers past the enrolled range, in the same groups as enrolled ones.
    impostor_base = args.n + qrng.choice(args.group_size, 1)[0]
    impostor = np.vstack([pop.samples(pop.centres(int(impostor_base + j * args.group_size), 1), 1, qrng)[0]
                          for j in range(args.queries)]) if args.impostors else np.zeros((0, dim), np.float32)
    # Score scales, to compare with real CAM++ trials (genuine ~0.7, impostor ~0 +- 0.1).
    pairs = qrng.choice(args.n, (5000, 2))
    impostor_cos = np.einsum("ij,ij->i", db[pairs[:, 0]], db[pairs[:, 1]])
    genuine_cos = np.einsum("ij,ij->i", genuine, db[genuine_ids])
    scales = {"genuine_cos_mean": round(float(genuine_cos.mean()), 3),
              "random_pair_cos_mean": round(float(impostor_cos.mean()), 3),
              "random_pair_cos_std": round(float(impostor_cos.std()), 3)}
    t0 = time.perf_counter()
    truth_gen, truth_imp = exact_top1(db, genuine), exact_top1(db, impostor) if len(impostor) else None
    exact_s = (time.perf_counter() - t0) / (len(genuine) + len(impostor))
    ids = [f"{i:032x}" for i in range(args.n)]  # user ids as the store makes them (uuid4 hex)

    gc.collect()
    rss0 = rss_bytes()
    index = VectorIndex(dim, exact_below=0, m=args.M, ef_construction=args.ef_construction,
                        ef=args.ef[0], build_threads=args.threads)
    t0 = time.perf_counter()
    for start in range(0, args.n, args.build_chunk):
        stop = min(args.n, start + args.build_chunk)
        index.bulk_upsert([(ids[i], db[i:i + 1]) for i in range(start, stop)])
        if args.progress:
            el = time.perf_counter() - t0
            print(f"  dim {dim}: {stop}/{args.n} inserted, {el:.0f}s", file=sys.stderr, flush=True)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_per = (rss_bytes() - rss0) / args.n
    raw = index._hnsw.index_file_size() / args.n

    result = {"dim": dim, "n": args.n, "effective_dim": round(pop.effective_dim, 1), **scales,
              "generate_s": round(gen_s, 1), "build_s": round(build_s, 1),
              "build_rate_per_s": round(args.n / build_s), "memory_bytes_per_voiceprint": round(rss_per),
              "hnsw_bytes_per_vector": round(raw), "exact_search_ms_per_query": round(exact_s * 1e3, 2),
              "runs": []}
    for ef in args.ef:
        index._ef = ef
        row = {"ef": ef}
        for label, queries, truth in (("genuine", genuine, truth_gen), ("impostor", impostor, truth_imp)):
            if truth is not None:
                row[label] = measure_queries(index, queries, [ids[t] for t in truth])
        result["runs"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    del index, db
    gc.collect()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="voiceprints (speakers) in the index")
    ap.add_argument("--dims", type=int, nargs="+", default=[512])
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--impostors", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--enrollments", type=int, default=3, help="enrollments per speaker")
    ap.add_argument("--group-size", type=int, default=100, help="speakers per cluster")
    ap.add_argument("--spread", type=float, default=1.5, help="speaker spread around a cluster centre")
    ap.add_argument("--noise", type=float, default=0.8, help="sample noise around a speaker")
    ap.add_argument("--decay", type=float, default=0.35,
                    help="variance spectrum decay (0 = isotropic clusters, the ANN worst case)")
    ap.add_argument("--M", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--threads", type=int, default=0, help="build threads (0 = all cores)")
    ap.add_argument("--build-chunk", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--out", default=None, help="JSON output (default loadtest/results/bench_store-<time>.json)")
    args = ap.parse_args(argv)

    report = {"benchmark": "store.hnsw_index", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
              "params": {k: v for k, v in vars(args).items() if k not in ("out", "progress")},
              "target": {"p99_ms": 2.0, "recall_at_1": 0.99}, "results": []}
    for dim in args.dims:
        report["results"].append(run_dim(args, dim))
    out = Path(args.out or Path(__file__).parent / "results" / f"bench_store-{int(time.time())}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
