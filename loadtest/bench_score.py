"""`vomid score` embedding throughput against raw in-process onnxruntime, on the same audio files, in one run.

    python -m loadtest.bench_score [--grpc-url HOST:PORT --repository DIR] [--limit N] [--concurrency 4 8 16]

Both paths start from the files: decode + resample (client.scoring.audio_loader, shared), then fbank + CAM++.
The score path is the command's own embedding stage (client.scoring.embed_files with the Triton embedder, cache
off); the raw path is engine.features.FbankExtractor + engine.embedder.OnnxEmbedder in this process, batch 1 and
batches of 16 (the better one is the baseline). Each row runs --repeat times and reports its median. Without
--grpc-url it exports a random-weight repository (speed does not depend on the weights) and starts its own
tritonserver. Prints utt/s and the ratio score / raw (target >= 0.95), then the best score row against the best raw
row alternately for --rounds rounds (median ratio, range, flagged above a 5 % spread); checks both give the same
embeddings, and writes JSON to loadtest/results/ (git-ignored: commit figures by quoting them).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import os
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from client.scoring.audio_loader import load_waveform
from client.scoring.embed_files import EmbeddingRun, embed_files
from client.scoring.triton_embedder import TritonEmbedder
from engine.embedder import OnnxEmbedder
from engine.features import FbankExtractor
from loadtest.report import describe_ratio, interleaved_ratios, machine, ratio_summary, write_report
from loadtest.repository import benchmark_repository
from tools.export.repository import EMBEDDING_MODEL, RepositoryOptions
from vomid.tritonserver import TritonServer

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
TARGET_RATIO = 0.95


def default_files(limit: int | None) -> list[Path]:
    with (SHARED_AUDIO / "speakers.csv").open() as handle:
        files = [SHARED_AUDIO / row["file"] for row in csv.DictReader(handle)]
    return files[:limit] if limit else files


def bench_raw(files: list[Path], onnx_path: Path, batch: int) -> dict:
    extractor, embedder = FbankExtractor(), OnnxEmbedder(onnx_path)
    embedder.embed(extractor(load_waveform(files[0]))[None])  # warm-up: session and allocator
    embeddings: dict[Path, np.ndarray] = {}
    started = time.perf_counter()
    for i in range(0, len(files), batch):
        chunk = files[i:i + batch]
        feats = [extractor(load_waveform(path))[None] for path in chunk]
        for path, embedding in zip(chunk, embedder.embed_many(feats)):
            embeddings[path] = embedding[0]
    elapsed = time.perf_counter() - started
    return {"utt_per_s": len(files) / elapsed, "seconds": elapsed, "_embeddings": embeddings}


async def _score_run(grpc_url: str, files: list[Path], concurrency: int) -> EmbeddingRun:
    async with TritonEmbedder(grpc_url) as embedder:
        await embed_files(files[:2], embedder, None, 2)  # warm-up: channel and model instances
        return await embed_files(files, embedder, None, concurrency)


def bench_score(grpc_url: str, files: list[Path], concurrency: int) -> dict:
    run = asyncio.run(_score_run(grpc_url, files, concurrency))
    return {"utt_per_s": run.files_per_s, "seconds": run.seconds, "_embeddings": run.embeddings}


def repeated(measure, repeat: int) -> dict:
    """Runs `measure` `repeat` times; the median run's throughput is the figure, every run is kept."""
    runs = [measure() for _ in range(repeat)]
    runs.sort(key=lambda row: row["utt_per_s"])
    median = runs[len(runs) // 2]
    return {**median, "runs_utt_per_s": [round(r["utt_per_s"], 3) for r in runs]}


def min_cosine(a: dict[Path, np.ndarray], b: dict[Path, np.ndarray]) -> float:
    return min(float(np.dot(a[p], b[p]) / (np.linalg.norm(a[p]) * np.linalg.norm(b[p]))) for p in a)


def serving_options(args: argparse.Namespace) -> dict:
    chosen = {"embedding_instances": args.embedding_instances, "intra_op_threads": args.intra_op_threads}
    return {key: value for key, value in chosen.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grpc-url", help="use this Triton (needs --repository for the raw path's model.onnx)")
    parser.add_argument("--repository", type=Path, help="model repository (default: export random weights)")
    parser.add_argument("--files", type=Path, help="text file with one audio path per line (default: "
                                                   "every file of ../shared/audio/speakers.csv)")
    parser.add_argument("--limit", type=int, help="use only the first N files")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the median is reported")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of the best score row against the best onnxruntime row")
    parser.add_argument("--embedding-instances", type=int, default=None,
                        help="for the exported repository: CAM++ model instances (default: the exporter's)")
    parser.add_argument("--intra-op-threads", type=int, default=None,
                        help="for the exported repository: onnxruntime threads per instance (default: the exporter's)")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/score.json"))
    args = parser.parse_args(argv)
    if args.grpc_url and not args.repository:
        parser.error("--grpc-url needs --repository (the raw path runs the same model.onnx)")
    files = ([Path(line.strip()) for line in args.files.read_text().splitlines() if line.strip()]
             if args.files else default_files(args.limit))[:args.limit]
    load_before = os.getloadavg()

    with ExitStack() as stack:
        grpc_url = args.grpc_url
        options = None if args.repository else RepositoryOptions(**serving_options(args))
        repository = stack.enter_context(benchmark_repository(args.repository, options))
        if grpc_url is None:
            grpc_url = stack.enter_context(TritonServer(repository, name="bench-score")).grpc_url
        onnx_path = repository / EMBEDDING_MODEL / "1" / "model.onnx"
        rows = {f"onnxruntime_b{batch}": repeated(lambda b=batch: bench_raw(files, onnx_path, b), args.repeat)
                for batch in (1, 16)}
        for concurrency in args.concurrency:
            rows[f"score_c{concurrency}"] = repeated(lambda c=concurrency: bench_score(grpc_url, files, c),
                                                     args.repeat)
        raw_best = max((k for k in rows if k.startswith("onnxruntime")), key=lambda k: rows[k]["utt_per_s"])
        score_best = max((k for k in rows if k.startswith("score")), key=lambda k: rows[k]["utt_per_s"])
        # The same two best settings again, alternately (A B, B A, ...): a ratio that the machine's drift does not bias.
        best_batch, best_concurrency = int(raw_best.split("_b")[1]), int(score_best.split("_c")[1])
        interleaved = ratio_summary(interleaved_ratios(
            lambda: bench_score(grpc_url, files, best_concurrency)["utt_per_s"],
            lambda: bench_raw(files, onnx_path, best_batch)["utt_per_s"], args.rounds))
    agreement = min_cosine(rows[raw_best]["_embeddings"], rows[score_best]["_embeddings"])
    ratio = rows[score_best]["utt_per_s"] / rows[raw_best]["utt_per_s"]
    audio_s = sum(len(load_waveform(p)) for p in files) / 16000
    report = {
        "benchmark": "score_embedding_throughput",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(load_before),
        "files": len(files), "audio_seconds": round(audio_s, 1), "grpc_url_given": bool(args.grpc_url),
        "repository_options": serving_options(args) if not args.repository else "given",
        "rows": {name: {k: v for k, v in row.items() if not k.startswith("_")} for name, row in rows.items()},
        "baseline": raw_best, "best_score": score_best,
        "ratio_score_vs_onnxruntime": ratio, "target_ratio": TARGET_RATIO,
        "interleaved_score_vs_onnxruntime": interleaved,
        "min_cosine_score_vs_onnxruntime": agreement,
    }
    print(f"{len(files)} files, {audio_s:.0f} s of audio; load average before {load_before[0]:.2f}")
    for name, row in report["rows"].items():
        print(f"  {name:<18}{row['utt_per_s']:8.2f} utt/s  (median of {row['runs_utt_per_s']})")
    print(f"ratio {score_best} / {raw_best} = {ratio:.3f} (medians of the rows, target >= {TARGET_RATIO}); "
          f"embeddings agree to cosine >= {agreement:.6f}")
    print(describe_ratio(f"{score_best} / {raw_best}", interleaved))
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
