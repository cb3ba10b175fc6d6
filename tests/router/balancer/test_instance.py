"""Instance bookkeeping: fault streaks, busy-vs-broken, ejection and re-admission only by a passing check."""
from __future__ import annotations

import time

from router.balancer.instance import Instance


def test_only_faults_lengthen_the_streak():
    instance = Instance("a:1", healthy=True)
    instance.failed(fault=True)
    instance.failed(fault=False)  # overload: counted as a failure, not against the instance
    assert instance.consecutive_failures == 1 and instance.failures == 2
    instance.succeeded(0.01)  # a success breaks the streak
    assert instance.consecutive_failures == 0
    instance.failed(fault=True)
    instance.answered()  # so does a refused input: the server is alive
    assert instance.consecutive_failures == 0 and instance.failures == 3


def test_busy_means_answered_within_the_window():
    instance = Instance("a:1", healthy=True)
    assert not instance.busy(5.0, now=100.0)  # never answered: a failure is a fault
    instance.succeeded(0.01, now=100.0)
    assert instance.busy(5.0, now=104.0) and not instance.busy(5.0, now=105.5)


def test_readmitted_only_when_due_and_the_check_passes():
    instance = Instance("a:1", healthy=True)
    instance.eject(10.0, now=100.0)
    assert instance.ejected and not instance.available and instance.ejected_until == 110.0
    assert not instance.checked(True, now=105.0)  # not due yet
    assert not instance.checked(False, now=111.0)  # due, but the server is still down
    assert instance.ejected and not instance.healthy
    assert instance.checked(True, now=112.0)
    assert instance.available and instance.consecutive_failures == 0


def test_state():
    instance = Instance("a:1", healthy=True)
    instance.begin()
    instance.end()
    instance.succeeded(0.02)
    state = instance.state()
    assert state | {"latency_ms": None} == {"url": "a:1", "weight": 1, "healthy": True, "ejected": False,
                                            "ejected_until": None, "in_flight": 0, "requests": 1, "failures": 0,
                                            "latency_ms": None}
    assert state["latency_ms"] == 20.0


def test_state_reports_ejection_in_wall_clock_time():
    instance = Instance("a:1", healthy=True)
    instance.eject(10.0)
    assert instance.state()["ejected"]
    assert abs(instance.state()["ejected_until"] - (time.time() + 10.0)) < 1.0
