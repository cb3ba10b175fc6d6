"""What every benchmark records beside its figures (the machine and its load), and how it writes them."""
from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(load_before: tuple[float, float, float] | None = None) -> dict:
    """CPU model and count, platform, and the load average (before the run too, when given): these shared
    machines drift, so a figure is read together with the load it was measured under."""
    facts = {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()}
    if load_before is not None:
        facts["loadavg_before"] = load_before
    return facts | {"loadavg_after" if load_before is not None else "loadavg": os.getloadavg()}


def write_report(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


SPREAD_LIMIT = 0.05  # a ratio whose rounds stray further than this from their median is flagged as unsteady


def interleaved_ratios(numerator: Callable[[], float], denominator: Callable[[], float], rounds: int) -> list[float]:
    """numerator() / denominator() per round, the two measured alternately (A B, B A, ...) so that a drift of the
    machine's speed during the run favours neither."""
    ratios = []
    for index in range(rounds):
        if index % 2 == 0:
            top, bottom = numerator(), denominator()
        else:
            bottom, top = denominator(), numerator()
        ratios.append(top / bottom)
    return ratios


def ratio_summary(ratios: list[float], spread_limit: float = SPREAD_LIMIT) -> dict:
    """Per-round ratios of two paths measured alternately (A B, B A, ...): the median, the range, and whether the
    spread (largest distance of a round from the median, relative) exceeds the limit."""
    ordered = sorted(ratios)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    spread = max(abs(r - median) for r in ratios) / median
    return {"median": median, "min": ordered[0], "max": ordered[-1], "rounds": ratios, "spread": spread,
            "unsteady": spread > spread_limit}


def describe_ratio(name: str, summary: dict) -> str:
    flag = "  UNSTEADY: the machine's speed moved during the run" if summary["unsteady"] else ""
    return (f"{name}: median {summary['median']:.3f} over {len(summary['rounds'])} interleaved rounds "
            f"(range {summary['min']:.3f}-{summary['max']:.3f}, spread ±{100 * summary['spread']:.1f} %){flag}")
