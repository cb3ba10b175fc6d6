"""Model-path benchmark: PyTorch eager vs in-process onnxruntime vs Triton gRPC, on the same clips, in one run.

    python -m loadtest.bench_model [--model ge2e] [--int8] [--repository DIR] [--clips 64] [--json FILE]

CAM++ always runs (without --repository, a random-weight export: speed does not depend on the weights); `--model
ge2e` adds the GE2E (Resemblyzer) model beside it, exported from its packaged weights, and the ratio of their best
Triton throughputs; `--int8` adds CAM++ int8 (`--precision int8`) with its self-check cosines and its throughput
against fp32 (interleaved in-process rounds and best Triton). The clips are real speech (the export's shipped
LibriSpeech utterance, cut and repeated): GE2E trims silence, so its cost depends on content. Every path includes
the model's front end, so each number is waveform -> embedding. Prints utt/s, p50/p99 latency, Triton's average
batch sizes (from its metrics) and the ratio of Triton's best throughput to in-process onnxruntime's: once from the
single pass, then as the median of --rounds interleaved rounds (each path at its best setting, the order flipped
every round) with its range, flagged when a round strays more than 5 % from the median (this shared machine's speed
drifts over minutes).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as grpcaio

from engine.contract import CAMPPLUS, EMBEDDING, ENSEMBLE_MODEL, GE2E, WAVEFORM, WAVEFORM_DTYPE, family
from engine.features import FbankExtractor
from engine.local_pipeline import LocalPipeline
from loadtest.report import describe_ratio, interleaved_ratios, machine, ratio_summary, write_report
from loadtest.repository import benchmark_repository
from tools.export.real_speech import load_speech
from tools.export.repository import read_manifest
from vomid.tritonserver import TritonServer

SAMPLE_RATE = 16000


def make_clips(kind: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """Real speech at random offsets of the repeated utterance: 3 s each, or uniform 1-30 s."""
    rng = np.random.default_rng(seed)
    seconds = [3.0] * count if kind == "3s" else list(rng.uniform(1.0, 30.0, size=count))
    speech = load_speech()
    source = np.tile(speech, -(-60 * SAMPLE_RATE // len(speech)))
    starts = rng.integers(0, len(source) - 30 * SAMPLE_RATE, size=count)
    return [source[s: s + int(sec * SAMPLE_RATE)].copy() for s, sec in zip(starts, seconds)]


def summarize(latencies: list[float], elapsed: float) -> dict:
    lat = np.array(latencies) * 1000
    return {"utt_per_s": len(latencies) / elapsed, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99))}


def bench_torch(clips) -> dict | None:
    """CAM++ eager PyTorch (random weights), the baseline the export replaces."""
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


def bench_onnxruntime(clips, onnx_path: Path, batch: int, model_name: str = CAMPPLUS.name) -> dict:
    """In-process front end + onnxruntime, `batch` clips per embedding-graph pass (the engine's own grouping)."""
    pipeline = LocalPipeline(model_name, onnx_path)
    pipeline.embed(clips[0])  # warm-up
    latencies = []
    start = time.perf_counter()
    for i in range(0, len(clips), batch):
        t0 = time.perf_counter()
        pipeline.embed_many(clips[i:i + batch])
        latencies += [time.perf_counter() - t0] * len(clips[i:i + batch])
    return summarize(latencies, time.perf_counter() - start)


async def _triton_run(url: str, clips, concurrency: int) -> dict:
    client = grpcaio.InferenceServerClient(url)
    queue = list(enumerate(clips))
    latencies: list[float] = []

    async def worker():
        while queue:
            _, wave = queue.pop()
            tensor = grpcaio.InferInput(WAVEFORM, [1, len(wave)], WAVEFORM_DTYPE)
            tensor.set_data_from_numpy(wave[None])
            t0 = time.perf_counter()
            await client.infer(ENSEMBLE_MODEL, [tensor], outputs=[grpcaio.InferRequestedOutput(EMBEDDING)])
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.close()
    return summarize(latencies, elapsed)


def bench_triton(server: TritonServer, model_name: str, clips, concurrency: int) -> dict:
    asyncio.run(_triton_run(server.grpc_url, clips[:4], 2))  # warm-up
    before = server.inference_counts()
    result = asyncio.run(_triton_run(server.grpc_url, clips, concurrency))
    after = server.inference_counts()
    models = family(model_name)
    for role, model in (("features", models.features_model), ("embedding", models.embedding_model)):
        count = after[model][0] - before[model][0]
        executions = after[model][1] - before[model][1]
        result[f"avg_batch_{role}"] = count / executions if executions else 0.0
    return result


def bench_model(model_name: str, repository: Path, clips_by_kind: dict, args, title: str | None = None) -> dict:
    onnx_path = served_onnx(model_name, repository)
    report = {}
    with TritonServer(repository, name=f"bench-{model_name}") as server:
        for kind, clips in clips_by_kind.items():
            rows = {}
            if model_name == CAMPPLUS.name and title is None and not args.skip_torch:
                rows["pytorch_eager"] = bench_torch(clips[: max(8, args.clips // 4)])
            rows["onnxruntime_b1"] = bench_onnxruntime(clips, onnx_path, 1, model_name)
            rows["onnxruntime_b16"] = bench_onnxruntime(clips, onnx_path, 16, model_name)
            for concurrency in args.concurrency:
                rows[f"triton_grpc_c{concurrency}"] = bench_triton(server, model_name, clips, concurrency)
            best_ort = max(rows["onnxruntime_b1"]["utt_per_s"], rows["onnxruntime_b16"]["utt_per_s"])
            rows["ratio_triton_best_vs_onnxruntime_best"] = best_triton(rows) / best_ort
            print_table(f"{title or family(model_name).title}, {kind} clips", rows)
            if args.rounds:
                rows["interleaved"] = interleaved_ratio(server, model_name, onnx_path, clips, rows, args.rounds)
                print(describe_ratio("Triton / onnxruntime, each at its best setting", rows["interleaved"]))
            report[kind] = rows
    return report


def served_onnx(model_name: str, repository: Path) -> Path:
    return repository / family(model_name).embedding_model / "1" / "model.onnx"


def interleaved_ratio(server: TritonServer, model_name: str, onnx_path: Path, clips, rows: dict,
                      rounds: int) -> dict:
    """Triton at its best concurrency and onnxruntime at its best batch, alternately on the same clips (the order
    flips every round, so a drift of the machine's speed does not favour either path)."""
    batch = max((1, 16), key=lambda b: rows[f"onnxruntime_b{b}"]["utt_per_s"])
    concurrency = max((int(k.removeprefix("triton_grpc_c")) for k in rows if k.startswith("triton_grpc_c")),
                      key=lambda c: rows[f"triton_grpc_c{c}"]["utt_per_s"])
    ratios = interleaved_ratios(lambda: bench_triton(server, model_name, clips, concurrency)["utt_per_s"],
                                lambda: bench_onnxruntime(clips, onnx_path, batch, model_name)["utt_per_s"], rounds)
    return ratio_summary(ratios) | {"onnxruntime_batch": batch, "triton_concurrency": concurrency}


def bench_int8(fp32_repository: Path, int8_repository: Path, fp32_rows: dict, clips_by_kind: dict, args) -> dict:
    """The int8 variant beside fp32: its self-check cosines, its own table, and int8 / fp32 throughput, in-process
    onnxruntime at batch 16 in interleaved rounds (the model's speed alone) and best Triton in single passes."""
    manifest = read_manifest(int8_repository)
    cosines = manifest.int8_cosines
    report = {"self_check_cosines": {"min": min(cosines), "median": float(np.median(cosines)), "count": len(cosines),
                                     "random_weights": manifest.random_weights} if cosines else None}
    if cosines:
        note = " (random weights: says nothing of a trained network)" if manifest.random_weights else ""
        print(f"\nint8 self-check vs fp32 on held-out real speech: min {min(cosines):.4f}, "
              f"median {np.median(cosines):.4f} over {len(cosines)} utterances (target >= 0.99){note}")
    int8_rows = bench_model(CAMPPLUS.name, int8_repository, clips_by_kind, args, title="CAM++ int8")
    fp32_onnx, int8_onnx = served_onnx(CAMPPLUS.name, fp32_repository), served_onnx(CAMPPLUS.name, int8_repository)
    for kind, clips in clips_by_kind.items():
        rows = {"rows": int8_rows[kind],
                "triton_best_int8_vs_fp32": best_triton(int8_rows[kind]) / best_triton(fp32_rows[kind])}
        if "pytorch_eager" in fp32_rows[kind] and fp32_rows[kind]["pytorch_eager"]:
            rows["triton_best_int8_vs_pytorch_eager"] = (best_triton(int8_rows[kind])
                                                         / fp32_rows[kind]["pytorch_eager"]["utt_per_s"])
        if args.rounds:
            rows["onnxruntime_b16_int8_vs_fp32"] = ratio_summary(interleaved_ratios(
                lambda: bench_onnxruntime(clips, int8_onnx, 16)["utt_per_s"],
                lambda: bench_onnxruntime(clips, fp32_onnx, 16)["utt_per_s"], args.rounds))
            print(describe_ratio(f"int8 / fp32, onnxruntime batch 16, {kind} clips (target >= 1.6)",
                                 rows["onnxruntime_b16_int8_vs_fp32"]))
        print(f"int8 / fp32, best Triton, {kind} clips (single pass): {rows['triton_best_int8_vs_fp32']:.3f}"
              + (f"; int8 Triton / PyTorch eager: {rows['triton_best_int8_vs_pytorch_eager']:.2f} (target >= 3)"
                 if "triton_best_int8_vs_pytorch_eager" in rows else ""))
        report[kind] = rows
    return report


def best_triton(rows: dict) -> float:
    return max(v["utt_per_s"] for k, v in rows.items() if k.startswith("triton"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=(CAMPPLUS.name, GE2E.name), default=CAMPPLUS.name,
                        help="ge2e: also benchmark GE2E beside CAM++ in the same run")
    parser.add_argument("--repository", type=Path, help="CAM++ model repository (default: export random weights)")
    parser.add_argument("--ge2e-repository", type=Path, help="GE2E model repository (default: export it)")
    parser.add_argument("--int8", action="store_true",
                        help="also benchmark CAM++ int8 (--precision int8 export) beside fp32, with their ratios")
    parser.add_argument("--int8-repository", type=Path, help="CAM++ int8 model repository (default: export one)")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds for the Triton / onnxruntime ratio (0: single pass only)")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/model.json"))
    args = parser.parse_args(argv)

    clips_by_kind = {kind: make_clips(kind, args.clips) for kind in ("3s", "mixed")}
    load_before = os.getloadavg()
    report: dict = {"clips": args.clips}
    models = {CAMPPLUS.name: args.repository}
    if args.model == GE2E.name:
        models[GE2E.name] = args.ge2e_repository
    with ExitStack() as stack:
        for model_name, given in models.items():
            repository = stack.enter_context(benchmark_repository(given, model=model_name))
            report[model_name] = bench_model(model_name, repository, clips_by_kind, args)
            if model_name == CAMPPLUS.name and (args.int8 or args.int8_repository):
                int8 = stack.enter_context(benchmark_repository(args.int8_repository, precision="int8"))
                report["campplus_int8"] = bench_int8(repository, int8, report[model_name], clips_by_kind, args)
    if GE2E.name in report:
        report["ratio_ge2e_vs_campplus_triton_best"] = {
            kind: best_triton(report[GE2E.name][kind]) / best_triton(report[CAMPPLUS.name][kind])
            for kind in clips_by_kind}
        print(f"\nGE2E / CAM++ best Triton throughput: {report['ratio_ge2e_vs_campplus_triton_best']}")
    report["machine"] = machine(load_before)
    write_report(args.json, report)
    return 0


def print_table(title: str, rows: dict) -> None:
    print(f"\n== {title} ==")
    print(f"{'path':<22}{'utt/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'batch feats':>13}{'batch embed':>13}")
    for name, row in rows.items():
        if not isinstance(row, dict):
            continue
        features, embedding = (row.get(f"avg_batch_{role}", float("nan")) for role in ("features", "embedding"))
        print(f"{name:<22}{row['utt_per_s']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
              f"{features:>13.2f}{embedding:>13.2f}")
    print(f"Triton best / onnxruntime best: {rows['ratio_triton_best_vs_onnxruntime_best']:.3f} (target >= 0.95)")


if __name__ == "__main__":
    raise SystemExit(main())
