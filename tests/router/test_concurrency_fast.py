"""The adaptive limit's arithmetic at its exact bounds (beside test_concurrency.py): the baseline switch at five
lone samples, per-clip normalisation, the cut and growth boundaries, clamping, and the clock it reads. Values are
binary fractions, so the float comparisons are exact. Part of the mutation check (scripts/mutation.sh)."""
from __future__ import annotations

import pytest

from router import concurrency
from router.concurrency import AdaptiveLimit


def limit(**settings) -> AdaptiveLimit:
    return AdaptiveLimit(**{"initial": 8, "minimum": 2, "maximum": 32, "tolerance": 2.0, **settings})


def test_initial_value_is_clamped_and_defaults():
    assert limit(initial=1).value == 2 and limit(initial=64).value == 32 and limit(initial=5.5).current == 5
    plain = AdaptiveLimit(initial=8, minimum=2, maximum=32)
    assert (plain.tolerance, plain.backoff) == (2.0, 0.9)
    assert plain.baseline_s == float("inf")   # nothing seen yet


def test_the_baseline_is_the_fastest_until_five_lone_samples_then_their_median():
    adaptive = limit()
    for n, latency in enumerate([0.5, 0.25, 1.0, 0.75]):
        adaptive.observe(latency, 3.0, in_flight=1, now=n)
    assert adaptive.baseline_s == 0.25                  # four lone samples: the fastest
    adaptive.observe(2.0, 3.0, in_flight=0, now=5)      # nothing else in flight counts as alone too
    assert adaptive.baseline_s == 0.75                  # five: the median of .5 .25 1 .75 2
    adaptive.observe(0.125, 3.0, in_flight=2, now=6)    # contended: the fastest, never the median
    assert adaptive.baseline_s == 0.75 and adaptive._fastest == 0.125


def test_the_baseline_is_the_median_of_the_last_50_lone_samples():
    adaptive = limit()
    for n in range(60):
        adaptive.observe(1.0, 3.0, in_flight=1, now=n)
    for n in range(50):
        adaptive.observe(0.25, 3.0, in_flight=1, now=100 + n)
    assert adaptive.baseline_s == 0.25   # the 60 older samples are out of the window


@pytest.mark.parametrize("latency, audio_s, sample", [(0.5, 1.0, 0.5), (0.5, 3.0, 0.5), (0.5, 6.0, 0.25),
                                                      (3.0, 12.0, 0.75)])
def test_latency_is_normalised_to_a_3_second_clip(latency, audio_s, sample):
    adaptive = limit()
    adaptive.observe(latency, audio_s, in_flight=1, now=0)
    assert adaptive.baseline_s == sample


def test_a_latency_exactly_at_the_tolerance_is_not_queueing():
    adaptive = limit(initial=8)
    adaptive.observe(0.25, 3.0, in_flight=1, now=0)     # baseline .25, tolerance 2: .5 is still fine
    adaptive.observe(0.5, 3.0, in_flight=3, now=10)
    assert adaptive.value == 8
    adaptive.observe(0.5 + 2 ** -20, 3.0, in_flight=3, now=20)
    assert adaptive.value == 8 * 0.9


def test_one_cut_per_round_trip_measured_by_the_late_sample():
    adaptive = limit(initial=10, backoff=0.5)
    adaptive.observe(0.25, 3.0, in_flight=1, now=0)
    adaptive.observe(1.0, 3.0, in_flight=3, now=100.0)
    assert adaptive.value == 5
    adaptive.observe(1.0, 3.0, in_flight=3, now=100.75)  # within one (normalised) latency of the cut
    assert adaptive.value == 5
    adaptive.observe(1.0, 3.0, in_flight=3, now=101.0)   # exactly one latency later: a new signal
    assert adaptive.value == 2.5
    adaptive.observe(1.0, 3.0, in_flight=3, now=102.0)
    assert adaptive.value == 2                           # never below the minimum


def test_growth_only_when_the_limit_binds():
    adaptive = limit(initial=4)
    adaptive.observe(0.25, 3.0, in_flight=1, now=0)
    adaptive.observe(0.25, 3.0, in_flight=3, now=1)      # below the limit: no growth
    assert adaptive.value == 4
    adaptive.observe(0.25, 3.0, in_flight=4, now=2)      # at the limit: + 1 / limit
    assert adaptive.value == 4.25
    adaptive.observe(0.25, 3.0, in_flight=9, now=3)
    assert adaptive.value == 4.25 + 1 / 4.25


def test_growth_stops_at_the_maximum():
    adaptive = limit(initial=31.995, maximum=32)   # + 1 / 31.995 would pass 32
    adaptive.observe(0.25, 3.0, in_flight=40, now=0)
    assert adaptive.value == 32
    adaptive.observe(0.25, 3.0, in_flight=40, now=1)
    assert adaptive.value == 32


def test_without_now_it_reads_the_monotonic_clock(monkeypatch):
    class Clock:
        now = 1000.0

        def monotonic(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(concurrency, "time", clock)
    adaptive = limit(initial=10, backoff=0.5)
    adaptive.observe(0.25, 3.0, in_flight=1)
    adaptive.observe(1.0, 3.0, in_flight=3)
    assert adaptive.value == 5 and adaptive._last_cut == 1000.0
    clock.now = 1000.5
    adaptive.observe(1.0, 3.0, in_flight=3)
    assert adaptive.value == 5
    clock.now = 1001.0
    adaptive.observe(1.0, 3.0, in_flight=3)
    assert adaptive.value == 2.5 and adaptive._last_cut == 1001.0
