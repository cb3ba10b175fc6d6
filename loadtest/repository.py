"""The model repository a benchmark serves: the operator's, or a random-weight export (speed ignores weights)."""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.export.repository import RepositoryOptions


@contextmanager
def benchmark_repository(given: Path | None, options: RepositoryOptions | None = None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    from tools.export.pipeline import ExportRequest, run_export  # needs the export extra (torch)

    with tempfile.TemporaryDirectory(prefix="vomid-bench-") as tmp:
        repository = Path(tmp) / "repo"
        run_export(ExportRequest(output=repository, random_weights=True, repository=options or RepositoryOptions()))
        yield repository
