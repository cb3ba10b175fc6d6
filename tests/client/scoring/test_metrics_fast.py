"""More hand-worked DET / EER / minDCF cases (beside test_metrics.py): ties inside the sweep, the smallest trial
lists, a prior above 1/2, the operating points' miss and false-alarm rates, and the exact refusals. Fast (numpy
only); part of the mutation check (scripts/mutation.sh)."""
from __future__ import annotations

import numpy as np
import pytest

from client.scoring.metrics import DetCurve, MetricsError, det_curve, equal_error_rate, min_dcf


def test_ties_in_the_middle_are_one_sweep_point():
    # Sorted: 0.1n 0.5t 0.5n 0.9t. Thresholds 0.1, 0.5 (the tie moves together), 0.9, above.
    # t=0.1: miss 0/2, fa 2/2 | 0.5: miss 0, fa 1/2 | 0.9: miss 1/2, fa 0 | above: miss 1, fa 0.
    curve = det_curve(np.array([0.5, 0.9]), np.array([0.5, 0.1]))
    np.testing.assert_allclose(curve.thresholds[:-1], [0.1, 0.5, 0.9])
    assert curve.thresholds[-1] == np.nextafter(0.9, np.inf)
    np.testing.assert_allclose(curve.p_miss, [0, 0, .5, 1])
    np.testing.assert_allclose(curve.p_fa, [1, .5, 0, 0])


def test_any_array_shape_is_flattened():
    flat = det_curve(np.array([0.9, 0.8, 0.4]), np.array([0.6, 0.3]))
    column = det_curve(np.array([[0.9], [0.8], [0.4]]), np.array([[0.6], [0.3]]))
    for got, want in ((column.thresholds, flat.thresholds), (column.p_miss, flat.p_miss),
                      (column.p_fa, flat.p_fa)):
        np.testing.assert_array_equal(got, want)
    assert column.p_miss.shape == (6,)


def test_one_target_and_one_non_target():
    # Sorted: 0.1n 0.9t: p_miss [0, 0, 1], p_fa [1, 0, 0]; gap fa - miss [1, 0, -1] meets 0 at t = 0.9.
    curve = det_curve(np.array([0.9]), np.array([0.1]))
    np.testing.assert_allclose(curve.p_miss, [0, 0, 1])
    eer = equal_error_rate(curve)
    assert (eer.value, eer.threshold, eer.p_miss, eer.p_fa) == (0.0, 0.9, 0.0, 0.0)


def test_eer_reports_the_interpolated_rates():
    # As in test_metrics: crossing between t=0.7 (miss 1/3, fa 1/2) and 0.8 (miss 1/3, fa 0) at weight 1/3.
    eer = equal_error_rate(det_curve(np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2])))
    assert (eer.p_miss, eer.p_fa) == pytest.approx((1 / 3, 1 / 3))
    # Crossing between t=0.6 (miss 0, fa .001) and 0.8 (miss .5, fa .001) at weight .002: miss .001, fa .001.
    rare = equal_error_rate(det_curve(np.array([0.9, 0.6]), np.concatenate([[0.8], np.full(999, 0.1)])))
    assert (rare.p_miss, rare.p_fa) == pytest.approx((0.001, 0.001))


def test_a_curve_that_starts_past_the_crossing_reports_its_first_point():
    # Not a curve det_curve makes (its P_fa starts at 1), but a DetCurve anyone can build: the first point.
    curve = DetCurve(thresholds=np.array([0.3, 0.6]), p_miss=np.array([0.5, 0.9]), p_fa=np.array([0.4, 0.1]))
    eer = equal_error_rate(curve)
    assert (eer.value, eer.threshold, eer.p_miss, eer.p_fa) == (0.5, 0.3, 0.5, 0.4)


def test_min_dcf_with_a_prior_above_one_half():
    # Sorted: 0.2n 0.3t 0.7n 0.8t 0.9t; p_miss [0, 0, 1/3, 1/3, 2/3, 1], p_fa [1, .5, .5, 0, 0, 0].
    # p_target .9: DCF = .9 P_miss + .1 P_fa, normalised by min(.9, .1) = .1: 9 P_miss + P_fa:
    #   1 | .5 | 3.5 | 3 | 6 | 9   -> minimum .5 at t = 0.3.
    point = min_dcf(det_curve(np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2])), 0.9)
    assert point.value == pytest.approx(0.5)
    assert (point.threshold, point.p_miss, point.p_fa) == (0.3, 0.0, 0.5)


def test_min_dcf_with_unequal_costs():
    # Same curve, p_target .5, C_miss 3, C_fa 1: DCF = 1.5 P_miss + .5 P_fa, normalised by min(1.5, .5) = .5:
    #   3 P_miss + P_fa:  1 | .5 | 1.5 | 1 | 2 | 3   -> .5 at t = 0.3.
    curve = det_curve(np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2]))
    assert min_dcf(curve, 0.5, c_miss=3.0).value == pytest.approx(0.5)
    # C_fa 4: DCF = .5 P_miss + 2 P_fa, normalised by .5: P_miss + 4 P_fa:  4 | 2 | 7/3 | 1/3 | 2/3 | 1 -> t = 0.8.
    point = min_dcf(curve, 0.5, c_fa=4.0)
    assert point.value == pytest.approx(1 / 3) and point.threshold == 0.8


@pytest.mark.parametrize("targets, nontargets, message", [
    ([], [0.1], "need at least one target and one non-target trial"),
    ([0.5], [], "need at least one target and one non-target trial"),
    ([0.5, np.inf], [0.1], "scores must be finite"),
    ([0.5], [np.nan], "scores must be finite"),
])
def test_unusable_trials_are_refused(targets, nontargets, message):
    with pytest.raises(MetricsError) as err:
        det_curve(np.array(targets, dtype=float), np.array(nontargets, dtype=float))
    assert str(err.value) == message


@pytest.mark.parametrize("p_target", [0.0, 1.0, 1.5, -0.1])
def test_min_dcf_refuses_a_prior_outside_the_open_interval(p_target):
    curve = det_curve(np.array([0.5]), np.array([0.1]))
    with pytest.raises(MetricsError) as err:
        min_dcf(curve, p_target)
    assert str(err.value) == f"p_target must be in (0, 1), got {p_target}"
