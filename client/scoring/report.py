"""The JSON report of a `vomid score` run, and the operating points `vomid calibrate` reads back from it."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from client.scoring.errors import ReportError
from client.scoring.metrics import OperatingPoint

P_TARGETS = (0.01, 0.001)
OPERATING_POINTS = ("eer", *(f"mindcf-{p:g}" for p in P_TARGETS))


def build_report(*, eer: OperatingPoint, min_dcfs: dict[float, OperatingPoint], trials: dict[str, Any],
                 model: dict[str, Any], embeddings: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    return {
        "eer": asdict(eer),
        "min_dcf": {f"{p:g}": {**asdict(point), "p_target": p, "c_miss": 1.0, "c_fa": 1.0}
                    for p, point in min_dcfs.items()},
        "thresholds": {"eer": eer.threshold, **{f"mindcf-{p:g}": point.threshold for p, point in min_dcfs.items()}},
        "trials": trials,
        "model": model,
        "embeddings": embeddings,
        "files": files,
    }


def write_report(report: dict[str, Any], path: Path) -> Path:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
    return Path(path)


def threshold_for(report_path: Path, operating_point: str) -> float:
    """The threshold a report recommends at `operating_point` (one of OPERATING_POINTS)."""
    if operating_point not in OPERATING_POINTS:
        raise ReportError(f"operating point must be one of {', '.join(OPERATING_POINTS)}, got {operating_point!r}")
    try:
        report = json.loads(Path(report_path).read_text())
        return float(report["thresholds"][operating_point])
    except OSError as exc:
        raise ReportError(f"{report_path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ReportError(f"{report_path}: not a `vomid score` report with a {operating_point} threshold") from None
