"""The model repository a benchmark serves: the operator's, or an export (CAM++: random weights, since speed
ignores weights; GE2E: the real packaged weights, which are all it has)."""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.contract import CAMPPLUS
from tools.export.repository import RepositoryOptions


@contextmanager
def benchmark_repository(given: Path | None, options: RepositoryOptions | None = None,
                         model: str = CAMPPLUS.name, precision: str = "fp32") -> Iterator[Path]:
    if given is not None:
        yield given
        return
    from tools.export.pipeline import ExportRequest, run_export  # needs the export extra (torch)

    with tempfile.TemporaryDirectory(prefix="vomid-bench-") as tmp:
        repository = Path(tmp) / "repo"
        run_export(ExportRequest(output=repository, model=model, random_weights=model == CAMPPLUS.name,
                                 calibrate=False, precision=precision, repository=options or RepositoryOptions()))
        yield repository
