"""`python -m tools.export`: CAM++ weights -> checked ONNX -> Triton model repository."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

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
    print(f"exported CAM++ ({manifest.embedding_dim}-dim, {manifest.source}) to {args.output}")
    if manifest.parity_cosines:
        print(f"ONNX vs PyTorch cosine at 1/3/10/30 s: {', '.join(f'{c:.7f}' for c in manifest.parity_cosines)}")
    return 0
