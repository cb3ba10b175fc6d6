"""Model-path benchmark: PyTorch eager vs in-process onnxruntime vs Triton gRPC, on the same clips, in one run.

    python -m loadtest.bench_model [--repository DIR] [--clips 64] [--json loadtest/results/model.json]

Without --repository it exports a random-weight CAM++ (speed does not depend on the weights). Every path
includes the fbank front end, so each number is waveform -> embedding. Prints utt/s, p50/p99 latency, Triton's
average batch sizes (from its metrics) and the ratio of Triton's best throughput to in-process onnxruntime's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as grpcaio

from engine.embedder import OnnxEmbedder
from engine.features import FbankExtractor
from vomid.tritonserver import TritonServer
from loadtest.repository import benchmark_repository
from tools.export.repository import EMBEDDING_MODEL, ENSEMBLE_MODEL, FEATURES_MODEL

SAMPLE_RATE = 16000


def make_clips(kind: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """Speech-like noise (the model's speed does not depend on content): 3 s each, or uniform 1-30 s."""
    rng = np.random.default_rng(seed)
    seconds = [3.0] * count if kind == "3s" else list(rng.uniform(1.0, 30.0, size=count))
    return [(rng.standard_normal(int(s * SAMPLE_RATE)) * 0.05).astype(np.float32) for s in seconds]


def summarize(latencies: list[float], elapsed: float) -> dict:
    lat = np.array(latencies) * 1000
    return {"utt_per_s": len(latencies) / elapsed, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99))}


def bench_torch(clips, repository_source: str | None) -> dict | None:
    try:
        import torch

        from tools.export.campplus import random_campplus
    except ImportError:
        return None
    model = random_campplus(512, 0)
    extractor = FbankExtractor()
    latencies = []
    start = time.perf_counter()
    with torch.no_grad():
        for wave in clips:
            t0 = time.perf_counter()
            model(torch.from_numpy(extractor(wave))[None])
            latencies.append(time.perf_counter() - t0)
    return summarize(latencies, time.perf_counter() - start)


def bench_onnxruntime(clips, onnx_path: Path, batch: int) -> dict:
    extractor, embedder = FbankExtractor(), OnnxEmbedder(onnx_path)
    embedder.embed(extractor(clips[0])[None])  # warm-up
    latencies = []
    start = time.perf_counter()
    for i in range(0, len(clips), batch):
        t0 = time.perf_counter()
        embedder.embed_many([extractor(w)[None] for w in clips[i:i + batch]])
        latencies += [time.perf_counter() - t0] * len(clips[i:i + batch])
    return summarize(latencies, time.perf_counter() - start)


async def _triton_run(url: str, clips, concurrency: int) -> dict:
    client = grpcaio.InferenceServerClient(url)
    queue = list(enumerate(clips))
    latencies: list[float] = []

    async def worker():
        while queue:
            _, wave = queue.pop()
            tensor = grpcaio.InferInput("waveform", [1, len(wave)], "FP32")
            tensor.set_data_from_numpy(wave[None])
            t0 = time.perf_counter()
            await client.infer(ENSEMBLE_MODEL, [tensor])
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.close()
    return summarize(latencies, elapsed)


def bench_triton(server: TritonServer, clips, concurrency: int) -> dict:
    asyncio.run(_triton_run(server.grpc_url, clips[:4], 2))  # warm-up
    before = server.inference_counts()
    result = asyncio.run(_triton_run(server.grpc_url, clips, concurrency))
    after = server.inference_counts()
    for model in (FEATURES_MODEL, EMBEDDING_MODEL):
        count = after[model][0] - before[model][0]
        executions = after[model][1] - before[model][1]
        result[f"avg_batch_{model}"] = count / executions if executions else 0.0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, help="model repository (default: export random weights)")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/model.json"))
    args = parser.parse_args(argv)

    with benchmark_repository(args.repository) as repository:
        onnx_path = repository / EMBEDDING_MODEL / "1" / "model.onnx"
        report: dict = {"clips": args.clips}
        with TritonServer(repository, name="bench") as server:
            for kind in ("3s", "mixed"):
                clips = make_clips(kind, args.clips)
                rows = {}
                if not args.skip_torch:
                    rows["pytorch_eager"] = bench_torch(clips[: max(8, args.clips // 4)], None)
                rows["onnxruntime_b1"] = bench_onnxruntime(clips, onnx_path, 1)
                rows["onnxruntime_b16"] = bench_onnxruntime(clips, onnx_path, 16)
                for concurrency in args.concurrency:
                    rows[f"triton_grpc_c{concurrency}"] = bench_triton(server, clips, concurrency)
                best_ort = max(rows["onnxruntime_b1"]["utt_per_s"], rows["onnxruntime_b16"]["utt_per_s"])
                best_triton = max(v["utt_per_s"] for k, v in rows.items() if k.startswith("triton"))
                rows["ratio_triton_best_vs_onnxruntime_best"] = best_triton / best_ort
                report[kind] = rows
                print_table(kind, rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {args.json}")
    return 0


def print_table(kind: str, rows: dict) -> None:
    print(f"\n== {kind} clips ==")
    print(f"{'path':<22}{'utt/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'batch fbank':>13}{'batch campplus':>16}")
    for name, row in rows.items():
        if not isinstance(row, dict) or row is None:
            continue
        print(f"{name:<22}{row['utt_per_s']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
              f"{row.get('avg_batch_fbank', float('nan')):>13.2f}{row.get('avg_batch_campplus', float('nan')):>16.2f}")
    print(f"Triton best / onnxruntime best: {rows['ratio_triton_best_vs_onnxruntime_best']:.3f} (target >= 0.95)")


if __name__ == "__main__":
    raise SystemExit(main())
