"""Draws a DET curve (P_miss against P_fa on normal-deviate axes) with the chosen operating points, as a PNG."""
from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from client.scoring.metrics import DetCurve, OperatingPoint  # noqa: E402

_TICKS = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99]
_FLOOR = 5e-4  # a probability of 0 has no normal deviate; draw it at the axis edge


def _deviate(p: np.ndarray | list[float]) -> np.ndarray:
    normal = NormalDist()
    return np.array([normal.inv_cdf(float(v)) for v in np.clip(p, _FLOOR, 1 - _FLOOR)])


def plot_det(curve: DetCurve, points: dict[str, OperatingPoint], out: Path, title: str = "DET curve") -> Path:
    figure, axes = plt.subplots(figsize=(6, 6))
    try:
        axes.plot(_deviate(curve.p_fa), _deviate(curve.p_miss), color="tab:blue", label="system")
        for (label, point), marker in zip(points.items(), "os^D"):
            axes.plot(_deviate([point.p_fa]), _deviate([point.p_miss]), marker, markersize=8,
                      label=f"{label}: {point.value:.4f} @ {point.threshold:.4f}")
        ticks = _deviate(_TICKS)
        labels = [f"{100 * t:g}" for t in _TICKS]
        axes.set_xticks(ticks, labels)
        axes.set_yticks(ticks, labels)
        limits = _deviate([_FLOOR, 1 - _FLOOR])
        axes.set_xlim(*limits)
        axes.set_ylim(*limits)
        axes.set_xlabel("false alarm probability (%)")
        axes.set_ylabel("miss probability (%)")
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper right", fontsize=8)
        figure.savefig(out, dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    return Path(out)
