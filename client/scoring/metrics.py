"""Detection metrics of a speaker-verification trial list: DET points, EER and normalised minDCF, in numpy.

A trial is accepted when its score is >= the threshold. Thresholds are swept over every distinct score (plus one
above the highest, where everything is rejected) from one sort of all scores, as a ROC is usually computed; tied
scores move together, so a threshold never splits them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class MetricsError(ValueError):
    """The scores cannot be evaluated (no target or no non-target trial, non-finite scores)."""


@dataclass(frozen=True)
class DetCurve:
    thresholds: np.ndarray  # increasing; the last one rejects every trial
    p_miss: np.ndarray  # non-decreasing
    p_fa: np.ndarray  # non-increasing


@dataclass(frozen=True)
class OperatingPoint:
    value: float  # EER, or the normalised minimum detection cost
    threshold: float
    p_miss: float
    p_fa: float


def det_curve(target_scores: np.ndarray, nontarget_scores: np.ndarray) -> DetCurve:
    targets = np.asarray(target_scores, dtype=np.float64).reshape(-1)
    nontargets = np.asarray(nontarget_scores, dtype=np.float64).reshape(-1)
    if targets.size == 0 or nontargets.size == 0:
        raise MetricsError("need at least one target and one non-target trial")
    scores = np.concatenate([targets, nontargets])
    if not np.all(np.isfinite(scores)):
        raise MetricsError("scores must be finite")
    is_target = np.concatenate([np.ones(targets.size), np.zeros(nontargets.size)])
    order = np.argsort(scores, kind="mergesort")
    scores, is_target = scores[order], is_target[order]
    # targets_below[i] / nontargets_below[i]: how many of each sort before position i.
    targets_below = np.concatenate([[0.0], np.cumsum(is_target)])
    nontargets_below = np.concatenate([[0.0], np.cumsum(1.0 - is_target)])
    # A threshold sits at the first position of each run of equal scores, and past the end.
    starts = np.flatnonzero(np.concatenate([[True], scores[1:] != scores[:-1]]))
    positions = np.concatenate([starts, [scores.size]])
    thresholds = np.concatenate([scores[starts], [np.nextafter(scores[-1], np.inf)]])
    p_miss = targets_below[positions] / targets.size
    p_fa = (nontargets.size - nontargets_below[positions]) / nontargets.size
    return DetCurve(thresholds=thresholds, p_miss=p_miss, p_fa=p_fa)


def equal_error_rate(curve: DetCurve) -> OperatingPoint:
    """Where P_miss meets P_fa, linearly interpolated between the two sweep points around the crossing.

    The threshold is interpolated the same way, so it lies between the two thresholds bracketing the crossing.
    """
    gap = curve.p_fa - curve.p_miss  # decreasing from 1 (accept all) to -1 (reject all)
    k = int(np.argmax(gap <= 0))
    if k == 0:  # cannot happen with both classes present (gap starts at 1), kept for safety
        return OperatingPoint(float(curve.p_miss[0]), float(curve.thresholds[0]),
                              float(curve.p_miss[0]), float(curve.p_fa[0]))
    weight = gap[k - 1] / (gap[k - 1] - gap[k])
    p_miss = curve.p_miss[k - 1] + weight * (curve.p_miss[k] - curve.p_miss[k - 1])
    p_fa = curve.p_fa[k - 1] + weight * (curve.p_fa[k] - curve.p_fa[k - 1])
    threshold = curve.thresholds[k - 1] + weight * (curve.thresholds[k] - curve.thresholds[k - 1])
    return OperatingPoint(float((p_miss + p_fa) / 2), float(threshold), float(p_miss), float(p_fa))


def min_dcf(curve: DetCurve, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0) -> OperatingPoint:
    """Minimum over thresholds of the detection cost, normalised by the cost of the best trivial system.

    DCF(t) = C_miss * P_miss(t) * p_target + C_fa * P_fa(t) * (1 - p_target), divided by
    min(C_miss * p_target, C_fa * (1 - p_target)); the lowest threshold wins ties.
    """
    if not 0.0 < p_target < 1.0:
        raise MetricsError(f"p_target must be in (0, 1), got {p_target}")
    cost = c_miss * curve.p_miss * p_target + c_fa * curve.p_fa * (1.0 - p_target)
    cost /= min(c_miss * p_target, c_fa * (1.0 - p_target))
    best = int(np.argmin(cost))
    return OperatingPoint(float(cost[best]), float(curve.thresholds[best]),
                          float(curve.p_miss[best]), float(curve.p_fa[best]))
