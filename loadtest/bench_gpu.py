"""Waveform -> embedding on a GPU: the batched torch fbank (engine.torch_fbank) + CAM++, by precision and batch.

    python -m loadtest.bench_gpu [--device cuda] [--batches 1 16 64 256 1024] [--modes eager-fp32 eager-bf16
                                 eager-fp16 graphs-fp16] [--seconds 3] [--budget-s 420] [--json FILE]

Needs only torch, numpy, soundfile and this project with the CAM++ definition (speakerlab-slim): no Triton, no
onnxruntime, no network, so it runs on a lent GPU machine as one prepared script (it stops starting new rows once
--budget-s is spent; the default leaves room in an 8-minute slot). CAM++ has random weights (speed does not depend
on them). The clips are the shipped LibriSpeech utterance cut to --seconds, one per batch row.

For each mode and batch size: utterances per second of the whole path, of the front end alone and of CAM++ alone
(so a front-end-bound path shows), latency per batch, peak GPU memory, and the lowest cosine between the mode's
embeddings and the reference path (kaldi-native-fbank + CAM++ in fp32 on the CPU) for the same clips.
Modes: eager-fp32; eager-bf16 / eager-fp16 (autocast); graphs-fp16 (autocast, the whole path captured in one
CUDA graph per batch size). Goal from the performance issue: the whole path at >= 12,500 utt/s on one H200.
Expected output: one line per (mode, batch) and a table at the end; JSON to loadtest/results/gpu.json.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.features import FbankExtractor
from engine.torch_fbank import TorchFbank
from loadtest.report import machine, write_report
from tools.export.campplus import random_campplus
from tools.export.real_speech import speech_of_lengths

GOAL_UTT_PER_S = 12_500
MODES = ("eager-fp32", "eager-bf16", "eager-fp16", "graphs-fp16")


@dataclass
class EmbeddingPath:
    front: TorchFbank
    model: torch.nn.Module
    dtype: torch.dtype | None  # autocast dtype, None for fp32

    def __call__(self, waves: torch.Tensor) -> torch.Tensor:
        return self.embed(self.front(waves))

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        if self.dtype is None:
            return self.model(feats)
        with torch.autocast(device_type=feats.device.type, dtype=self.dtype):
            return self.model(feats).float()


def reference_embeddings(model: torch.nn.Module, clips: np.ndarray) -> torch.Tensor:
    extractor = FbankExtractor()
    with torch.no_grad():
        cpu_model = model.to("cpu")
        feats = torch.from_numpy(np.stack([extractor(c) for c in clips]))
        return torch.nn.functional.normalize(cpu_model(feats), dim=1)


def timed(call, device: torch.device, min_time_s: float) -> tuple[float, int]:
    """Seconds per call (mean over as many calls as fit in min_time_s, at least 3) after 2 warm-up calls."""
    for _ in range(2):
        call()
    synchronize(device)
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < min_time_s:
        call()
        calls += 1
        if calls % 4 == 0:
            synchronize(device)
    synchronize(device)
    return (time.perf_counter() - started) / calls, calls


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def graphed(path: EmbeddingPath, waves: torch.Tensor):
    """The whole path captured in one CUDA graph for this input shape; returns (replay, output)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream, as capture requires
            path(waves)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = path(waves)
    return graph.replay, output


def measure(mode: str, batch: int, path: EmbeddingPath, clips: np.ndarray, reference: torch.Tensor,
            device: torch.device, min_time_s: float) -> dict:
    rows = np.resize(np.arange(len(clips)), batch)
    waves = torch.from_numpy(clips[rows]).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        if mode.startswith("graphs"):
            run, output = graphed(path, waves)
        else:
            output = None

            def run():
                nonlocal output
                output = path(waves)
        per_batch, calls = timed(run, device, min_time_s)
        feats = path.front(waves)
        front_s, _ = timed(lambda: path.front(waves), device, min_time_s / 2)
        model_s, _ = timed(lambda: path.embed(feats), device, min_time_s / 2)
        embeddings = torch.nn.functional.normalize(output.float(), dim=1).cpu()
    cosine = float((embeddings * reference[rows]).sum(dim=1).min())
    return {"mode": mode, "batch": batch, "utt_per_s": batch / per_batch, "batch_ms": per_batch * 1000,
            "front_utt_per_s": batch / front_s, "model_utt_per_s": batch / model_s, "calls": calls,
            "min_cosine_vs_cpu_fp32": cosine,
            "peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256, 1024])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length")
    parser.add_argument("--min-time-s", type=float, default=2.0, help="timing window per row")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no new row after this")
    parser.add_argument("--json", default="loadtest/results/gpu.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    started = time.perf_counter()
    (clip,) = speech_of_lengths((args.seconds,))
    clips = np.stack([np.roll(clip, 160 * k) for k in range(16)]).astype(np.float32)  # 16 distinct rows
    model = random_campplus(512, 0).eval()
    reference = reference_embeddings(model, clips)
    model = model.to(device)
    front = TorchFbank().to(device)
    rows, skipped = [], []
    for mode in args.modes:
        if mode.startswith("graphs") and device.type != "cuda":
            skipped.append(f"{mode}: CUDA graphs need a CUDA device")
            continue
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode.rsplit("-", 1)[1])
        for batch in args.batches:
            if time.perf_counter() - started > args.budget_s:
                skipped.append(f"{mode} batch {batch}: over the time budget")
                continue
            try:
                path = EmbeddingPath(front, model, dtype)
                row = measure(mode, batch, path, clips, reference, device, args.min_time_s)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                skipped.append(f"{mode} batch {batch}: out of GPU memory")
                continue
            rows.append(row)
            print(f"{mode:<12} batch {batch:>5}: {row['utt_per_s']:>9.0f} utt/s ({row['batch_ms']:.2f} ms/batch); "
                  f"front end alone {row['front_utt_per_s']:>9.0f}, CAM++ alone {row['model_utt_per_s']:>9.0f}; "
                  f"min cosine vs CPU fp32 {row['min_cosine_vs_cpu_fp32']:.5f}", flush=True)
    best = max(rows, key=lambda r: r["utt_per_s"]) if rows else None
    if best:
        print(f"best: {best['mode']} batch {best['batch']}: {best['utt_per_s']:.0f} utt/s "
              f"({best['utt_per_s'] / GOAL_UTT_PER_S:.2f} x the {GOAL_UTT_PER_S} goal)")
    for line in skipped:
        print(f"skipped {line}")
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    write_report(Path(args.json), {
        "benchmark": "gpu_waveform_to_embedding", "device": device_name, "torch": torch.__version__,
        "clip_seconds": args.seconds, "machine": machine(), "rows": rows, "skipped": skipped, "best": best,
        "goal_utt_per_s": GOAL_UTT_PER_S, "elapsed_s": time.perf_counter() - started})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
