"""The adaptive concurrency limit on scripted latencies: shrinks on queueing, grows while it binds, stays bounded."""
from __future__ import annotations

import pytest

from router.concurrency import AdaptiveLimit


def limit(**settings) -> AdaptiveLimit:
    return AdaptiveLimit(**{"initial": 8, "minimum": 2, "maximum": 32, "tolerance": 2.0, **settings})


def test_learns_the_baseline_from_requests_that_ran_alone():
    adaptive = limit()
    for n in range(5):
        adaptive.observe(0.1, 3.0, in_flight=1, now=n)
    adaptive.observe(0.05, 3.0, in_flight=4, now=6)  # a contended sample never sets the baseline
    assert adaptive.baseline_s == pytest.approx(0.1)


def test_queueing_shrinks_the_limit_once_per_round_trip():
    adaptive = limit()
    for n in range(5):
        adaptive.observe(0.1, 3.0, in_flight=1, now=n)
    adaptive.observe(0.5, 3.0, in_flight=8, now=10.0)  # 5x the baseline: requests are waiting
    assert adaptive.value == 8 * 0.9
    adaptive.observe(0.5, 3.0, in_flight=8, now=10.1)  # the same burst of late answers: no second cut
    assert adaptive.value == 8 * 0.9
    for n in range(100):
        adaptive.observe(0.5, 3.0, in_flight=8, now=11.0 + n)
    assert adaptive.current == 2  # never below the minimum


def test_grows_only_while_the_limit_binds_and_latency_is_fine():
    adaptive = limit(initial=4)
    for n in range(5):
        adaptive.observe(0.1, 3.0, in_flight=1, now=n)
    adaptive.observe(0.15, 3.0, in_flight=2, now=10)  # well within, but not limited: no growth
    assert adaptive.value == 4
    for n in range(200):
        adaptive.observe(0.15, 3.0, in_flight=adaptive.current, now=11 + n)
    assert 12 < adaptive.value <= 32  # about +1 per limit's worth of requests


def test_latency_is_compared_per_clip_length():
    adaptive = limit()
    for n in range(5):
        adaptive.observe(0.1, 3.0, in_flight=1, now=n)
    adaptive.observe(0.9, 30.0, in_flight=8, now=10)  # a 30 s clip taking 9x as long is not queueing
    assert adaptive.value >= 8
