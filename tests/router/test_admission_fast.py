"""Fast unit tests of router.admission: deadlines on a controlled clock, request slots, the decode queue bound
(decodes really running on a thread pool, held by the test), the upload deadline, and the adaptive limit it
feeds, with the metrics and exact errors. Part of the mutation check (scripts/mutation.sh); test_overload.py
covers the same through a running router."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from router import admission as admission_module
from router.admission import Admission, Deadline
from router.config import OverloadConfig
from router.errors import RequestTimeout, Unavailable
from router.metrics import RouterMetrics

session_loop = pytest.mark.asyncio(loop_scope="session")


class Clock:
    def __init__(self):
        self.now = 500.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(admission_module, "time", fake)
    return fake


def make(adaptive: bool = False, decode_workers: int = 1, **config) -> Admission:
    return Admission(OverloadConfig(adaptive=adaptive, **config), decode_workers, RouterMetrics())


def shed(admission: Admission, reason: str) -> float | None:
    return admission.metrics.registry.get_sample_value("vomid_shed_total", {"reason": reason})


def gauge(admission: Admission, name: str) -> float | None:
    return admission.metrics.registry.get_sample_value(name)


def test_deadline_counts_down_and_then_refuses(clock):
    deadline = Deadline(2.5, retry_after_s=3)
    assert deadline.remaining() == 2.5
    clock.now += 2.0
    assert deadline.remaining() == 0.5
    clock.now += 0.5
    with pytest.raises(Unavailable) as err:
        deadline.remaining()
    assert (err.value.code, err.value.status, err.value.message) == \
        ("deadline_exceeded", 503, "the request ran out of time; retry later")
    assert err.value.headers == {"Retry-After": "3"}


def test_the_admission_deadline_uses_the_config(clock):
    deadline = make(deadline_s=7.0, retry_after_s=4).deadline()
    assert deadline.remaining() == 7.0 and deadline.retry_after_s == 4


def test_adaptive_limit_starts_at_twice_the_minimum_within_bounds():
    a = make(adaptive=True, min_requests=3, max_requests=64, latency_tolerance=1.5)
    assert (a.limit.value, a.limit.minimum, a.limit.maximum, a.limit.tolerance) == (6, 3, 64, 1.5)
    assert a.max_in_flight == 6
    assert make(adaptive=True, min_requests=3, max_requests=5).limit.value == 5
    fixed = make(adaptive=False, max_requests=9)
    assert fixed.limit is None and fixed.max_in_flight == 9


def test_request_slots_are_taken_and_given_back():
    a = make(max_requests=2, retry_after_s=2)
    with a.admit():
        assert a.in_flight == 1 and gauge(a, "vomid_requests_in_flight") == 1
        with a.admit():
            assert a.in_flight == 2
            with pytest.raises(Unavailable) as err:
                with a.admit():
                    pass
            assert err.value.message == "the service is at capacity; retry after the delay in Retry-After"
            assert err.value.headers == {"Retry-After": "2"} and err.value.code == "overloaded"
            assert shed(a, "requests") == 1 and a.in_flight == 2
    assert a.in_flight == 0 and gauge(a, "vomid_requests_in_flight") == 0
    with pytest.raises(KeyError):
        with a.admit():
            raise KeyError("a failing request")
    assert a.in_flight == 0 and gauge(a, "vomid_requests_in_flight") == 0   # given back on failure too


def test_observe_feeds_the_adaptive_limit_and_its_gauge():
    a = make(adaptive=True, min_requests=2, max_requests=8)
    a.in_flight = 4
    a.observe(0.25, 1.0)
    assert a.limit.baseline_s == 0.25                                 # fed: its first (fastest) sample
    assert a.limit.value == 4 + 1 / 4                                 # in flight at the limit: it grew
    assert gauge(a, "vomid_concurrency_limit") == 4
    fixed = make(adaptive=False)
    fixed.observe(0.2, 1.0)
    assert gauge(fixed, "vomid_concurrency_limit") == 0


@session_loop
async def test_read_body_returns_the_body_or_408_when_too_slow():
    a = make(body_timeout_s=0.05)

    async def body():
        return b"payload"

    assert await make(body_timeout_s=10.0).read_body(body()) == b"payload"
    never = asyncio.get_running_loop().create_future()
    with pytest.raises(RequestTimeout) as err:
        await asyncio.wait_for(a.read_body(never), 10)   # a read_body without its deadline fails here, not hangs
    assert (err.value.status, err.value.message, err.value.headers) == \
        (408, "the request body was not received within 0.05s", {"Connection": "close"})
    assert shed(a, "body_timeout") == 1


@session_loop
async def test_the_decode_queue_is_bounded_by_workers_plus_queue():
    a = make(decode_workers=1, max_decode_queue=1, retry_after_s=5)
    release = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        held = [asyncio.ensure_future(a.decode(executor, release.wait, 10)) for _ in range(2)]
        await asyncio.sleep(0)
        assert a._decodes == 2
        with pytest.raises(Unavailable) as err:
            await a.decode(executor, release.wait, 10)
        assert err.value.message == ("the audio decoders are saturated; retry after the delay in Retry-After")
        assert err.value.headers == {"Retry-After": "5"} and shed(a, "decode_queue") == 1
        release.set()
        assert await asyncio.gather(*held) == [True, True]
        assert a._decodes == 0
        assert await a.decode(executor, lambda x, y: x + y, 2, 3) == 5   # room again, arguments passed on
    finally:
        release.set()
        executor.shutdown()
