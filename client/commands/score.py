"""`vomid score` and `vomid calibrate`: argument handling around client.scoring (which does the work)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.scoring.cache import DEFAULT_CACHE_DIR
from client.scoring.pipeline import ScoreRequest, run_score
from client.scoring.report import OPERATING_POINTS, threshold_for
from client.scoring.triton_embedder import DEFAULT_MODEL


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trials", type=Path, help="trial list: `label enroll_path test_path` lines (1/0 or "
                                                   "target/nontarget)")
    parser.add_argument("--grpc-url", default="localhost:8001", help="Triton gRPC address (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Triton model (default: %(default)s)")
    parser.add_argument("--audio-root", type=Path, help="folder relative paths start from (default: the list's)")
    parser.add_argument("--out", type=Path, default=Path("score-results"),
                        help="folder for report.json, det.png and scores.txt (default: %(default)s)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embedding cache "
                        "(default: %(default)s; $VOIMID_CACHE_DIR moves it)")
    parser.add_argument("--no-cache", action="store_true", help="embed every file again, store nothing")
    parser.add_argument("--model-repository", type=Path,
                        help="read the model sha256 from this repository if Triton's config lacks it")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default: %(default)s)")


def score(args: argparse.Namespace) -> int:
    request = ScoreRequest(trials=args.trials, grpc_url=args.grpc_url, out_dir=args.out,
                           audio_root=args.audio_root, model=args.model,
                           cache_dir=None if args.no_cache else args.cache_dir,
                           model_repository=args.model_repository, concurrency=args.concurrency,
                           progress=sys.stderr.isatty())
    result = run_score(request)
    report, embeddings = result.report, result.report["embeddings"]
    print(f"trials {report['trials']['count']} ({report['trials']['targets']} target), "
          f"files {embeddings['files']} ({embeddings['cached']} cached, {embeddings['computed']} embedded "
          f"in {embeddings['seconds']:.1f}s)")
    print(f"EER          {100 * report['eer']['value']:.2f}%  threshold {report['eer']['threshold']:.4f}")
    for p_target, point in report["min_dcf"].items():
        print(f"minDCF {p_target:<6}{point['value']:.4f}  threshold {point['threshold']:.4f}")
    print(f"report {result.report_path}")
    return 0


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="report.json written by `vomid score`")
    parser.add_argument("--operating-point", choices=OPERATING_POINTS, default="eer",
                        help="which threshold to use (default: %(default)s)")


def calibrate(args: argparse.Namespace) -> int:
    threshold = threshold_for(args.report, args.operating_point)
    if not 0.0 <= threshold <= 1.0:
        print(f"warning: the {args.operating_point} threshold {threshold:.4f} is outside [0, 1], which "
              "verify.threshold accepts; this model's scores need another operating point", file=sys.stderr)
    print(f"verify.threshold: {threshold:.4f}")
    return 0
