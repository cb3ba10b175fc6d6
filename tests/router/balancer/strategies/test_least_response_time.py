"""Least response time: EWMA latency x (in_flight + 1), failures ignored."""
import pytest

from router.balancer.strategies import LeastResponseTime
from tests.router.balancer.strategies.fakes import fakes, picks


def test_prefers_the_faster_instance():
    fast, slow = fakes(1, 1)
    strategy = LeastResponseTime()
    strategy.record(fast, True, 0.02)
    strategy.record(slow, True, 0.20)
    assert set(picks(strategy, [fast, slow], 10)) == {fast.url}


def test_load_shifts_traffic_to_the_slower_one():
    fast, slow = fakes(1, 1)
    strategy = LeastResponseTime()
    strategy.record(fast, True, 0.02)
    strategy.record(slow, True, 0.05)
    fast.in_flight = 4  # 0.02 * 5 = 0.10 > 0.05 * 1
    assert strategy.pick([fast, slow]) is slow


def test_unmeasured_instances_are_tried_and_failures_do_not_count():
    a, b = fakes(1, 1)
    strategy = LeastResponseTime()
    assert set(picks(strategy, [a, b], 4).values()) == {2}  # nothing known yet: rotate
    strategy.record(a, True, 0.05)
    strategy.record(b, False, 0.001)  # a refused connection is fast, and must not look attractive
    assert strategy.latency_s(b.url) is None
    strategy.record(a, True, 0.15)
    assert strategy.latency_s(a.url) == pytest.approx(0.3 * 0.15 + 0.7 * 0.05)


def test_alpha_is_checked():
    with pytest.raises(ValueError):
        LeastResponseTime(alpha=0)
