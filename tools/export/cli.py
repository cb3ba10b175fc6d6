"""`python -m tools.export`: speaker-model weights (CAM++ or GE2E) -> checked ONNX -> Triton model repository."""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

from engine.contract import GE2E, family
from tools.export.arguments import add_repository_arguments, add_source_arguments, request_from_args
from tools.export.errors import ExportError
from tools.export.pipeline import run_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.export", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("model_repository"), help="model repository to write")
    add_source_arguments(parser)
    add_repository_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        request = request_from_args(args)
        manifest = run_export(request)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    title = family(manifest.model_name).title
    print(f"exported {title} ({manifest.embedding_dim}-dim, {manifest.source}) to {args.output}")
    if manifest.parity_cosines:
        reference = "Resemblyzer" if manifest.model_name == GE2E.name else "PyTorch"
        print(f"served vs {reference} cosine on real speech at 1/3/10/30 s: "
              f"{', '.join(f'{c:.7f}' for c in manifest.parity_cosines)}")
    if manifest.int8_cosines:
        print(f"int8 vs fp32 cosine on {len(manifest.int8_cosines)} held-out utterances of real speech: "
              f"min {min(manifest.int8_cosines):.4f}, median {statistics.median(manifest.int8_cosines):.4f}")
    if manifest.recommended_threshold is not None:
        print(f"recommended threshold {manifest.recommended_threshold:.4f} ({manifest.threshold_source})")
    print(f"model id {manifest.model_id}")
    return 0
