"""Router benchmark: REST verify throughput at saturation vs raw in-process onnxruntime, in one run.

    python -m loadtest.bench_router [--repository DIR] [--clips 48] [--concurrency 2 4 8 16] [--seconds 10]
                                    [--json loadtest/results/router.json]

Starts tritonserver (a random-weight export unless --repository; speed does not depend on the weights) and the
router as a real process (`python -m router`, memory store, auth and rate limits off; loadtest.load), registers
one speaker, then:
1. in-process onnxruntime (FbankExtractor + OnnxEmbedder on the same model.onnx, same 3 s clips), batch 1 and
   16, before and after the REST phase: the best of the four is the ceiling;
2. closed-loop REST 1:1 verify at several concurrencies: saturation throughput = the best of them;
3. open-loop REST verify at half the saturation rate: p50/p99 latency a client sees under normal load, against the
   targets p50 <= compute + 10 ms and p99 <= 2.5 x compute (compute: onnxruntime batch 1 p50), and where the time
   goes: mean ms per request of each stage, from the router's histograms and Triton's statistics (loadtest.breakdown).
4. REST at its best concurrency against onnxruntime at its best batch, alternately for --rounds rounds (A B, B A,
   ...): the median ratio with its range, flagged when a round strays more than 5 % (the machine's speed moved).
Prints the ratio REST saturation / onnxruntime (target >= 0.85) and writes everything as JSON, with the CPU model
and the load average before the run.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

import settings.env
from client.scoring.audio_loader import load_waveform
from engine.contract import CAMPPLUS
from loadtest import breakdown
from loadtest.bench_model import bench_onnxruntime, make_clips
from loadtest.load import RouterProcess, closed_loop, open_loop, register
from loadtest.load import summarize as summarize_answers
from loadtest.report import describe_ratio, interleaved_ratios, machine, ratio_summary, write_report
from loadtest.repository import benchmark_repository
from tools.export.repository import EMBEDDING_MODEL
from vomid.tritonserver import TritonServer

ROOT = Path(__file__).resolve().parents[1]
SHARED_AUDIO = Path(settings.env.variable("SHARED") or ROOT.parent / "shared") / "audio"
RATE = 16000
TARGET_RATIO = 0.85


def speech_clips(count: int, seconds: float = 3.0) -> list[np.ndarray]:
    """3 s windows of the real speech in ../shared/audio; speech-like noise when it is absent."""
    index = SHARED_AUDIO / "speakers.csv"
    if not index.exists():
        return make_clips("3s", count)
    clips: list[np.ndarray] = []
    with index.open() as handle:
        for row in csv.DictReader(handle):
            waveform = load_waveform(SHARED_AUDIO / row["file"])
            step = int(seconds * RATE)
            clips += [waveform[i:i + step] for i in range(0, len(waveform) - step + 1, step)]
            if len(clips) >= count:
                break
    return clips[:count] if len(clips) >= count else (clips * (count // max(len(clips), 1) + 1))[:count]


def wav_bytes(clip: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, clip, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def as_row(answers: list, seconds: float) -> dict:
    """The shared load module's accounting in this benchmark's row format: goodput, and the requests admission
    control shed (503 with Retry-After: more concurrency than the router admits); any other answer is a failure."""
    summary = summarize_answers(answers, seconds)
    if not set(summary["statuses"]) <= {"200", "503"} or summary["unavailable_without_retry_after"]:
        raise RuntimeError(f"verify answered {summary['statuses']}")
    return {"utt_per_s": summary["goodput_per_s"], "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"],
            "shed": int(summary["statuses"].get("503", 0))}


async def enroll_one(router: RouterProcess, payloads: list[bytes]) -> str:
    await router.wait_ready()
    user_id = await register(router.url, payloads[0], name="bench")
    await closed_loop(router.url, payloads, user_id, 2, 2.0)  # warm-up
    return user_id


async def bench_rest(router: RouterProcess, triton: TritonServer, payloads: list[bytes], user_id: str,
                     concurrencies, seconds, half_seconds) -> dict:
    rows = {f"rest_verify_c{c}": as_row(await closed_loop(router.url, payloads, user_id, c, seconds), seconds)
            for c in concurrencies}
    saturation = max(r["utt_per_s"] for r in rows.values())
    before = await breakdown.snapshot(router.url, triton.grpc_url, CAMPPLUS.name)
    answers = await open_loop(router.url, payloads, user_id, saturation / 2, half_seconds)
    after = await breakdown.snapshot(router.url, triton.grpc_url, CAMPPLUS.name)
    half = as_row(answers, half_seconds)
    client_mean_ms = 1000 * float(np.mean([a.latency_s for a in answers]))
    rows["rest_verify_half_load"] = half | {"offered_per_s": saturation / 2}
    rows["half_load_breakdown_ms"] = breakdown.breakdown(before, after, client_mean_ms, CAMPPLUS.name)
    return rows


def interleaved_rest_ratio(router: RouterProcess, payloads: list[bytes], user_id: str, concurrency: int,
                           seconds: float, clips, onnx_path: Path, batch: int, rounds: int) -> dict:
    """REST at its best concurrency for `seconds`, then in-process onnxruntime at its best batch over the same clips,
    alternately (A B, B A, ...): per-round ratios that a drift of the machine's speed does not bias."""
    def rest() -> float:
        return as_row(asyncio.run(closed_loop(router.url, payloads, user_id, concurrency, seconds)), seconds)[
            "utt_per_s"]

    def onnxruntime() -> float:
        return bench_onnxruntime(clips, onnx_path, batch)["utt_per_s"]

    return ratio_summary(interleaved_ratios(rest, onnxruntime, rounds))


def half_load_targets(rows: dict) -> dict:
    """Half-load latency against the model's own compute (in-process batch 1, fbank included: its best p50)."""
    half = rows["rest_verify_half_load"]
    compute = min(v["p50_ms"] for k, v in rows.items() if k.startswith("onnxruntime_b1"))
    targets = {"compute_ms": compute, "p50_ms": half["p50_ms"], "p99_ms": half["p99_ms"],
               "p50_target_ms": compute + 10, "p99_target_ms": 2.5 * compute}
    print(f"at half load ({half['offered_per_s']:.1f} req/s): p50 {half['p50_ms']:.1f} ms "
          f"(target <= compute + 10 = {targets['p50_target_ms']:.1f}), p99 {half['p99_ms']:.1f} ms "
          f"(target <= 2.5 x compute = {targets['p99_target_ms']:.1f}); compute = onnxruntime batch 1 p50")
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, help="model repository (default: export random weights)")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each REST concurrency level")
    parser.add_argument("--ort-passes", type=int, default=6,
                        help="passes over the clips per onnxruntime measurement (taken before and after REST)")
    parser.add_argument("--half-load-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of REST (best concurrency) against onnxruntime (best batch)")
    parser.add_argument("--round-seconds", type=float, default=5.0, help="REST time per interleaved round")
    parser.add_argument("--round-passes", type=int, default=4,
                        help="passes over the clips per interleaved onnxruntime round")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/router.json"))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    clips = speech_clips(args.clips)
    payloads = [wav_bytes(c) for c in clips]
    with benchmark_repository(args.repository) as repository:
        onnx_path = repository / EMBEDDING_MODEL / "1" / "model.onnx"
        # The ceiling is measured before and after the REST phase (the host may be shared); the best counts.
        ort_clips = clips * args.ort_passes
        rows = {"onnxruntime_b1": bench_onnxruntime(ort_clips, onnx_path, 1),
                "onnxruntime_b16": bench_onnxruntime(ort_clips, onnx_path, 16)}
        with TritonServer(repository, name="bench-router") as triton, tempfile.TemporaryDirectory() as tmp, \
                RouterProcess(Path(tmp), api={"decode_workers": 2},
                              triton={"instances": [triton.grpc_url], "retries": 0}) as router:
            user_id = asyncio.run(enroll_one(router, payloads))
            rows.update(asyncio.run(bench_rest(router, triton, payloads, user_id, args.concurrency, args.seconds,
                                               args.half_load_seconds)))
            best_concurrency = max(args.concurrency, key=lambda c: rows[f"rest_verify_c{c}"]["utt_per_s"])
            best_batch = 16 if rows["onnxruntime_b16"]["utt_per_s"] >= rows["onnxruntime_b1"]["utt_per_s"] else 1
            interleaved = interleaved_rest_ratio(router, payloads, user_id, best_concurrency, args.round_seconds,
                                                 clips * args.round_passes, onnx_path, best_batch, args.rounds)
        rows["onnxruntime_b1_after"] = bench_onnxruntime(ort_clips, onnx_path, 1)
        rows["onnxruntime_b16_after"] = bench_onnxruntime(ort_clips, onnx_path, 16)
    stages = rows.pop("half_load_breakdown_ms")
    best_ort = max(v["utt_per_s"] for k, v in rows.items() if k.startswith("onnxruntime"))
    saturation = max(v["utt_per_s"] for k, v in rows.items() if k.startswith("rest_verify_c"))
    report = {"clips": len(clips), "clip_seconds": 3.0, "machine": machine(load_before), "rows": rows,
              "interleaved_rest_vs_onnxruntime": interleaved | {"concurrency": best_concurrency, "batch": best_batch},
              "rest_saturation_per_s": saturation, "onnxruntime_best_per_s": best_ort,
              "ratio_rest_vs_onnxruntime": saturation / best_ort, "target_ratio": TARGET_RATIO,
              "half_load_breakdown_ms": stages,
              "command": " ".join([Path(sys.executable).name, "-m", "loadtest.bench_router", *(argv or sys.argv[1:])])}
    print(f"{'path':<24}{'utt/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'shed':>7}")
    for name, row in rows.items():
        print(f"{name:<24}{row['utt_per_s']:>9.2f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row.get('shed', 0):>7}")
    print(f"REST verify at saturation / in-process onnxruntime: {report['ratio_rest_vs_onnxruntime']:.3f} "
          f"(single pass, target >= {TARGET_RATIO})")
    print(describe_ratio(f"REST c{best_concurrency} / onnxruntime b{best_batch}", interleaved))
    report["half_load_targets"] = half_load_targets(rows)
    breakdown.print_breakdown(stages)
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
