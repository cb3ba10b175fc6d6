"""EER and minDCF against values worked out by hand on small score sets."""
from __future__ import annotations

import numpy as np
import pytest

from client.scoring.metrics import MetricsError, det_curve, equal_error_rate, min_dcf


def test_det_curve_sweeps_distinct_scores():
    # Sorted: 0.2n 0.3n 0.4t 0.5n 0.6n 0.7t 0.8t 0.9t (4 targets, 4 non-targets).
    # Accepting score >= t:   t=0.2: miss 0/4 fa 4/4 | 0.3: 0, 3/4 | 0.4: 0, 2/4 | 0.5: 1/4, 2/4
    #                         0.6: 1/4, 1/4 | 0.7: 1/4, 0 | 0.8: 2/4, 0 | 0.9: 3/4, 0 | above 0.9: 4/4, 0
    curve = det_curve(np.array([0.9, 0.8, 0.7, 0.4]), np.array([0.6, 0.5, 0.3, 0.2]))
    np.testing.assert_allclose(curve.thresholds[:-1], [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert curve.thresholds[-1] > 0.9
    np.testing.assert_allclose(curve.p_miss, [0, 0, 0, .25, .25, .25, .5, .75, 1])
    np.testing.assert_allclose(curve.p_fa, [1, .75, .5, .5, .25, 0, 0, 0, 0])


def test_eer_at_an_exact_crossing():
    # Same scores: at t=0.6, P_miss = P_fa = 1/4 exactly, so EER = 0.25 with threshold 0.6.
    eer = equal_error_rate(det_curve(np.array([0.9, 0.8, 0.7, 0.4]), np.array([0.6, 0.5, 0.3, 0.2])))
    assert eer.value == pytest.approx(0.25)
    assert eer.threshold == pytest.approx(0.6)


def test_eer_interpolates_between_sweep_points():
    # Sorted: 0.2n 0.3t 0.7n 0.8t 0.9t (3 targets, 2 non-targets).
    # t=0.7: miss 1/3, fa 1/2 (gap fa-miss = +1/6); t=0.8: miss 1/3, fa 0 (gap -1/3).
    # Crossing at weight (1/6) / (1/6 + 1/3) = 1/3: miss 1/3, fa 1/2 - 1/3 * 1/2 = 1/3, so EER = 1/3,
    # threshold 0.7 + 1/3 * 0.1 = 0.7333...
    eer = equal_error_rate(det_curve(np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2])))
    assert eer.value == pytest.approx(1 / 3)
    assert eer.threshold == pytest.approx(0.7 + 0.1 / 3)


def _rare_false_alarm_set():
    # 2 targets (0.9, 0.6); 1000 non-targets: one at 0.8 and 999 tied at 0.1.
    return det_curve(np.array([0.9, 0.6]), np.concatenate([[0.8], np.full(999, 0.1)]))


def test_ties_move_together():
    curve = _rare_false_alarm_set()
    # Distinct thresholds 0.1 0.6 0.8 0.9 (+ reject-all): the 999 tied scores make one sweep point.
    np.testing.assert_allclose(curve.p_miss, [0, 0, .5, .5, 1])
    np.testing.assert_allclose(curve.p_fa, [1, .001, .001, 0, 0])


def test_min_dcf_normalised_at_two_priors():
    curve = _rare_false_alarm_set()
    # p_target 0.01, C_miss = C_fa = 1: DCF = 0.01 P_miss + 0.99 P_fa, normalised by min(0.01, 0.99) = 0.01,
    # i.e. P_miss + 99 P_fa:   t=0.1: 99 | 0.6: 0 + 0.099 = 0.099 | 0.8: 0.5 + 0.099 = 0.599 | 0.9: 0.5 | all: 1
    low = min_dcf(curve, 0.01)
    assert low.value == pytest.approx(0.099)
    assert low.threshold == pytest.approx(0.6)
    assert (low.p_miss, low.p_fa) == pytest.approx((0.0, 0.001))
    # p_target 0.001: P_miss + 999 P_fa:  t=0.1: 999 | 0.6: 0.999 | 0.8: 1.499 | 0.9: 0.5 | all: 1
    rare = min_dcf(curve, 0.001)
    assert rare.value == pytest.approx(0.5)
    assert rare.threshold == pytest.approx(0.9)


def test_eer_with_rare_false_alarms():
    # t=0.6: miss 0, fa 0.001 (gap +0.001); t=0.8: miss 0.5, fa 0.001 (gap -0.499).
    # weight = 0.001 / 0.5 = 0.002: EER = 0.002 * 0.5 = 0.001, threshold 0.6 + 0.002 * 0.2 = 0.6004.
    eer = equal_error_rate(_rare_false_alarm_set())
    assert eer.value == pytest.approx(0.001)
    assert eer.threshold == pytest.approx(0.6004)


def test_perfect_separation_has_zero_eer_and_min_dcf():
    # Sorted: 0.1n 0.2n 0.8t 0.9t. At t=0.8 miss 0, fa 0: EER 0 and minDCF 0 there.
    curve = det_curve(np.array([0.8, 0.9]), np.array([0.1, 0.2]))
    assert equal_error_rate(curve).value == pytest.approx(0.0)
    point = min_dcf(curve, 0.01)
    assert point.value == 0.0 and point.threshold == pytest.approx(0.8)


def test_rejects_unusable_input():
    with pytest.raises(MetricsError):
        det_curve(np.array([0.5]), np.array([]))
    with pytest.raises(MetricsError):
        det_curve(np.array([np.nan]), np.array([0.1]))
    with pytest.raises(MetricsError):
        min_dcf(det_curve(np.array([0.5]), np.array([0.1])), 0.0)
