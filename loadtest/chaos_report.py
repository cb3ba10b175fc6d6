"""The chaos run's report: per-phase table, time-series plots with the faults marked, lost registrations.

Input: locust's per-request log (one JSON line per request: t, name, status, ms) and the fault events the run
recorded (time, what). Output: report.md and chaos.png in the run's directory, and the table as text.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WINDOW_S = 5.0  # plot and recovery resolution


@dataclass
class Phase:
    name: str
    start: float
    end: float


def load_requests(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def phases(start: float, end: float, events: list[tuple[float, str]]) -> list[Phase]:
    marks = [(start, "baseline")] + [(t, what) for t, what in events if start <= t < end]
    return [Phase(name, t, marks[i + 1][0] if i + 1 < len(marks) else end) for i, (t, name) in enumerate(marks)]


def failed(request: dict) -> bool:
    return not request["ok"] or request["status"] >= 400 or request["status"] == 0


def phase_row(phase: Phase, requests: list[dict]) -> dict:
    inside = [r for r in requests if phase.start <= r["t"] < phase.end]
    failures = [r for r in inside if failed(r)]
    latencies = [r["ms"] for r in inside if not failed(r)]
    recovery = (max(r["t"] for r in failures) - phase.start) if failures else 0.0
    return {"phase": phase.name, "from_s": phase.start, "seconds": phase.end - phase.start, "requests": len(inside),
            "failures": len(failures), "failure_pct": 100.0 * len(failures) / max(len(inside), 1),
            "by_status": dict(Counter(str(r["status"] or "conn") for r in failures)),
            "p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
            "p99_ms": float(np.percentile(latencies, 99)) if latencies else float("nan"),
            "recovery_s": recovery}


def table(rows: list[dict], origin: float) -> str:
    lines = ["| phase | at s | s | requests | failures | failures by status | p50 ms | p99 ms | last failure after s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(row["by_status"].items())) or "-"
        lines.append(f"| {row['phase']} | {row['from_s'] - origin:.0f} | {row['seconds']:.0f} | {row['requests']} | "
                     f"{row['failures']} ({row['failure_pct']:.2f} %) | {statuses} | {_ms(row['p50_ms'])} | "
                     f"{_ms(row['p99_ms'])} | {row['recovery_s']:.1f} |")
    return "\n".join(lines)


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.0f}"


def plot(requests: list[dict], events: list[tuple[float, str]], origin: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.array([r["t"] - origin for r in requests])
    bins = np.arange(0, max(times.max(initial=0), WINDOW_S) + WINDOW_S, WINDOW_S)
    centers = bins[:-1] + WINDOW_S / 2
    ok = np.histogram(times[[not failed(r) for r in requests]], bins)[0] / WINDOW_S
    bad = np.histogram(times[[failed(r) for r in requests]], bins)[0] / WINDOW_S
    p99 = [np.percentile([r["ms"] for r, t in zip(requests, times) if lo <= t < hi and not failed(r)] or [np.nan], 99)
           for lo, hi in zip(bins[:-1], bins[1:])]
    figure, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    for axis, values, label in ((axes[0], ok, "answered/s"), (axes[1], bad, "failed/s"), (axes[2], p99, "p99 ms")):
        axis.plot(centers, values, drawstyle="steps-mid")
        axis.set_ylabel(label)
        for t, what in events:
            axis.axvline(t - origin, color="red", alpha=0.5, linestyle="--")
    for t, what in events:
        axes[0].annotate(what, (t - origin, axes[0].get_ylim()[1]), rotation=90, va="top", fontsize=7)
    axes[2].set_xlabel(f"seconds since load start ({WINDOW_S:.0f} s windows)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(out: Path, requests: list[dict], events: list[tuple[float, str]], start: float, end: float,
          context: dict, lost: list[str], acked: int) -> str:
    rows = [phase_row(p, requests) for p in phases(start, end, events)]
    plot([r for r in requests if start <= r["t"] < end], events, start, out / "chaos.png")
    text = table(rows, start)
    by_name = Counter(r["name"] for r in requests if start <= r["t"] < end)
    mix = ", ".join(f"{name} {100 * n / max(sum(by_name.values()), 1):.0f} %" for name, n in sorted(by_name.items()))
    report = "\n".join([
        "# Chaos run", "",
        f"{context['description']}", "",
        f"- saturation measured: {context['saturation_rps']:.1f} req/s; offered: {context['target_rps']:.1f} req/s "
        f"({context['users']} users, one API key each); mix: {mix}",
        f"- load window: {end - start:.0f} s; faults at fixed times (red lines)",
        f"- acknowledged registrations: {acked}; missing after the run (listed through the API): {len(lost)}"
        + (f" ({', '.join(lost[:5])}...)" if lost else ""), "",
        text, "", "![throughput, failures and p99 over time](chaos.png)", ""])
    (out / "report.md").write_text(report)
    (out / "phases.json").write_text(json.dumps(rows, indent=2))
    return report
