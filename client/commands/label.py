"""`vomid label`: who speaks when. A FILE goes to the router (a job, with a progress bar; enrolled speakers are
named); a DIR is labelled straight from Triton over gRPC, several files at once, one RTTM per file (speakers are
numbered, nobody is looked up)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from tqdm import tqdm

from client.recordings import RecordingJob
from client.scoring.triton_embedder import DEFAULT_MODEL

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".mp4"}


class LabelArgumentError(ValueError):
    """A combination of options that cannot work (printed as a one-line error)."""


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a recording (labelled by the router), or a folder of them "
                                                "(labelled straight from Triton)")
    parser.add_argument("--rttm", help="FILE: write its RTTM here ('-': stdout); DIR: the folder for one .rttm "
                                       "per recording (default: <DIR>.rttm/)")
    parser.add_argument("--num-speakers", type=int, help="how many speakers there are, if known")
    parser.add_argument("--json", type=Path, help="FILE: write the whole job (segments, speakers) as JSON")
    parser.add_argument("--no-wait", action="store_true", help="FILE: print the job id and return at once")
    parser.add_argument("--grpc-url", default="localhost:8001", help="DIR: Triton gRPC address (default: "
                                                                     "%(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="DIR: speaker model (default: %(default)s)")
    parser.add_argument("--vad-model", default="vad", help="DIR: VAD model (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=2, help="DIR: recordings at once (default: %(default)s)")


def label_file(client, args: argparse.Namespace) -> int:
    if args.num_speakers is not None and not 1 <= args.num_speakers <= 32:
        raise LabelArgumentError("--num-speakers must be 1-32")
    if args.no_wait:
        job = client.label_recording(args.path, wait=False, num_speakers=args.num_speakers)
        print(job.job_id)
        return 0
    with tqdm(total=100, unit="%", desc="uploading", disable=not sys.stderr.isatty(),
              bar_format="{desc:<28} {percentage:3.0f}%|{bar}| {elapsed}") as bar:
        def show(job: RecordingJob) -> None:
            bar.set_description_str(job.stage or job.status)
            bar.update(100 * job.progress - bar.n)

        job = client.label_recording(args.path, num_speakers=args.num_speakers, progress=show)
    _write(job.rttm(args.path.name), args.rttm)
    if args.json:
        args.json.write_text(json.dumps(job.raw, indent=2) + "\n")
    _summary(job)
    return 0


def label_folder(args: argparse.Namespace) -> int:
    files = sorted(p for p in args.path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise LabelArgumentError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) under {args.path}")
    out = Path(args.rttm) if args.rttm and args.rttm != "-" else args.path.with_name(args.path.name + ".rttm")
    failures = asyncio.run(_label_all(files, args, out))
    for path, why in failures:
        print(f"failed: {path}: {why}", file=sys.stderr)
    print(f"{len(files) - len(failures)} recordings labelled, RTTM in {out}; {len(failures)} failed", file=sys.stderr)
    return 1 if failures else 0


async def _label_all(files: list[Path], args: argparse.Namespace, out: Path) -> list[tuple[Path, str]]:
    from audio import AudioError
    from client.label_triton import BatchEmbedder, TritonVad
    from client.scoring.errors import EmbeddingError
    from client.scoring.triton_embedder import TritonEmbedder
    from labelling.pipeline import LabelPipeline

    failures: list[tuple[Path, str]] = []
    slots = asyncio.Semaphore(max(1, args.concurrency))
    async with TritonVad(args.grpc_url, args.vad_model) as vad, TritonEmbedder(args.grpc_url, args.model) as embedder:
        pipeline = LabelPipeline(vad, BatchEmbedder(embedder))
        with tqdm(total=len(files), unit="file", disable=not sys.stderr.isatty()) as bar:
            async def one(path: Path) -> None:
                async with slots:
                    try:
                        result = await pipeline.run(path, args.num_speakers)
                    except (AudioError, EmbeddingError) as exc:
                        failures.append((path, str(exc)))
                    else:
                        target = out / path.relative_to(args.path).with_suffix(".rttm")
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(result.rttm(path.name))
                    bar.update(1)

            await asyncio.gather(*(one(path) for path in files))
    return failures


def _write(text: str, where: str | None) -> None:
    if where == "-" or where is None:
        sys.stdout.write(text)
    else:
        Path(where).write_text(text)


def _summary(job: RecordingJob) -> None:
    for speaker in job.speakers:
        name = f" ({speaker['name']})" if speaker.get("name") else ""
        score = f" score {speaker['score']:.2f}" if speaker.get("score") is not None else ""
        print(f"{speaker['label']}{name}: {speaker.get('seconds', 0):.1f}s{score}", file=sys.stderr)
    if job.warning:
        print(f"warning: {job.warning}", file=sys.stderr)
