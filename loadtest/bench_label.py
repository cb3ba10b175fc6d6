"""Speaker labelling on synthetic meetings: DER and real-time factor, served (Triton) and in-process, in one run.

    python -m loadtest.bench_label [--model campplus|ge2e] [--grpc-url HOST:PORT --repository DIR] [--meetings 3]
                                   [--minutes 10] [--speakers 4] [--seed 0]

Meetings are built from ../shared/audio (loadtest/meetings.py: turns of 2-20 s, pauses of 0.3-1.5 s, known truth).
Each one is labelled twice by the same pipeline (labelling.pipeline), once through Triton over gRPC (the `vad`
model and the `speaker` ensemble, as `vomid label DIR` does) and once in this process with onnxruntime on the same
ONNX files. Reported per path: DER (pyannote.metrics, 0.25 s collar) with missed speech, false alarm and confusion;
speech/non-speech agreement (100 ms collar); real-time factor (wall time / audio time) and the hours of audio per
hour it implies. Without --repository it exports one for --model and starts its own tritonserver: CAM++ with random
weights, where ONLY the speech-detection parts (missed speech, false alarm, agreement) mean anything - an untrained
CAM++ cannot tell speakers apart, so confusion is noise - and the report says so; GE2E with its packaged pretrained
weights, so its DER is real. The model of a given repository is read from its manifest. JSON goes to
loadtest/results/.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from engine.contract import CAMPPLUS, FAMILIES, family
from labelling.local import LocalEmbedder, LocalVad
from labelling.pipeline import LabelPipeline
from loadtest.label_eval import diarization_error, speech_agreement
from loadtest.meetings import Meeting, build_meeting, read_clips, speakers_with_audio
from loadtest.report import machine, write_report
from loadtest.repository import benchmark_repository
from tools.export.repository import read_manifest
from tools.export.vad import ONNX_NAME, VAD_MODEL

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
RANDOM_NOTE = ("random-weight CAM++: only speech detection (missed speech, false alarm, agreement) is meaningful; "
               "confusion and DER reflect an untrained network")


def meetings(audio_dir: Path, count: int, minutes: float, speakers: int, seed: int, vad) -> list[Meeting]:
    clips = read_clips(audio_dir)
    pool = speakers_with_audio(clips)
    if len(pool) < speakers:
        raise SystemExit(f"only {len(pool)} speakers with enough audio in {audio_dir}, {speakers} asked for")
    built = []
    for index in range(count):
        start = (index * speakers) % len(pool)
        chosen = [pool[(start + k) % len(pool)] for k in range(speakers)]
        built.append(build_meeting(clips, chosen, minutes * 60, vad, seed=seed + index))
    return built


async def label(pipeline: LabelPipeline, path: Path) -> tuple[list[tuple[float, float, str]], float]:
    started = time.perf_counter()
    result = await pipeline.run(path)
    return [(s.start, s.end, s.label) for s in result.segments], time.perf_counter() - started


async def served_pipeline_run(grpc_url: str, path: Path):
    from client.label_triton import BatchEmbedder, TritonVad
    from client.scoring.triton_embedder import TritonEmbedder

    async with TritonVad(grpc_url) as vad, TritonEmbedder(grpc_url) as embedder:
        return await label(LabelPipeline(vad, BatchEmbedder(embedder)), path)


def score(meeting: Meeting, hypothesis, seconds: float) -> dict:
    return {"rtf": seconds / meeting.seconds, "seconds": seconds,
            "agreement_100ms": speech_agreement(meeting.truth, hypothesis, meeting.seconds),
            **diarization_error(meeting.truth, hypothesis, collar=0.25),
            "der_no_collar": diarization_error(meeting.truth, hypothesis, collar=0.0)["der"]}


def run(args: argparse.Namespace, repository: Path, grpc_url: str, model: str) -> dict:
    onnx = repository / family(model).embedding_model / "1" / "model.onnx"
    local = LabelPipeline(LocalVad(repository / VAD_MODEL / "1" / ONNX_NAME), LocalEmbedder(onnx, model=model))
    rows = []
    with tempfile.TemporaryDirectory(prefix="vomid-bench-label-") as tmp:
        from engine.vad import SileroVad

        for index, meeting in enumerate(meetings(args.audio, args.meetings, args.minutes, args.speakers, args.seed,
                                                 SileroVad(repository / VAD_MODEL / "1" / ONNX_NAME))):
            path = meeting.write(Path(tmp) / f"meeting{index}.flac")
            served = asyncio.run(served_pipeline_run(grpc_url, path))
            in_process = asyncio.run(label(local, path))
            rows.append({"meeting": index, "minutes": round(meeting.seconds / 60, 2), "speakers": meeting.speakers,
                         "turns": len(meeting.turns), "served": score(meeting, *served),
                         "in_process": score(meeting, *in_process)})
            print_row(rows[-1])
    return {"rows": rows, "summary": {path: summary([r[path] for r in rows]) for path in ("served", "in_process")}}


def summary(scores: list[dict]) -> dict:
    def mean(key: str) -> float:
        return sum(s[key] for s in scores) / len(scores)

    return {key: mean(key) for key in ("der", "missed", "false_alarm", "confusion", "agreement_100ms", "rtf")} | {
        "hours_per_hour": 1 / mean("rtf"), "minutes_for_1h": 60 * mean("rtf")}


def print_row(row: dict) -> None:
    for path in ("served", "in_process"):
        s = row[path]
        print(f"meeting {row['meeting']} ({row['minutes']:.1f} min, {len(row['speakers'])} speakers) {path:<10} "
              f"DER {100 * s['der']:5.1f}%  missed {100 * s['missed']:4.1f}%  FA {100 * s['false_alarm']:4.1f}%  "
              f"confusion {100 * s['confusion']:5.1f}%  agreement {100 * s['agreement_100ms']:5.2f}%  "
              f"RTF {s['rtf']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grpc-url", help="use this Triton (needs --repository: the in-process run uses its files)")
    parser.add_argument("--model", choices=tuple(FAMILIES), default=CAMPPLUS.name,
                        help="the model to export when no --repository is given (default: %(default)s)")
    parser.add_argument("--repository", type=Path, help="model repository (default: export --model)")
    parser.add_argument("--audio", type=Path, default=SHARED_AUDIO, help="speech folder with speakers.csv")
    parser.add_argument("--meetings", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speakers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/label.json"))
    args = parser.parse_args(argv)
    if args.grpc_url and not args.repository:
        parser.error("--grpc-url needs --repository (the in-process run loads the same ONNX files)")
    load_before = os.getloadavg()
    with ExitStack() as stack:
        repository = stack.enter_context(benchmark_repository(args.repository, model=args.model))
        grpc_url = args.grpc_url
        if grpc_url is None:
            from vomid.tritonserver import TritonServer

            grpc_url = stack.enter_context(TritonServer(repository, name="bench-label")).grpc_url
        manifest = read_manifest(repository)
        random_weights = manifest.random_weights
        report = run(args, repository, grpc_url, manifest.model_name)
    report = {"benchmark": "label_der_rtf", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(load_before),
              "model": manifest.model_name, "random_weights": random_weights, "note": RANDOM_NOTE if random_weights else None,
              "meetings": args.meetings, "minutes": args.minutes, "speakers": args.speakers, **report}
    for path, s in report["summary"].items():
        print(f"{path:<10} mean DER {100 * s['der']:.1f}% (missed {100 * s['missed']:.1f}%, false alarm "
              f"{100 * s['false_alarm']:.1f}%, confusion {100 * s['confusion']:.1f}%), agreement "
              f"{100 * s['agreement_100ms']:.2f}%, RTF {s['rtf']:.3f}: 1 h of audio in {s['minutes_for_1h']:.1f} min")
    if random_weights:
        print(f"NOTE: {RANDOM_NOTE}")
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
