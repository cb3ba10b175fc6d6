"""The router process under overload, slow clients and a total Triton outage (real router, two real tritonservers).

- 3x the measured saturation rate for 20 s: every answer is 200 or 503 with Retry-After, nothing times out, no
  instance is ejected, memory stays bounded, admitted requests stay fast (p50 and p99 within 4x of a busy service's), and
  throughput is back right after.
- A client sending its body at 1 byte/s is cut off at the upload deadline without holding a decode slot.
- Every Triton killed: voiceprint reads and deletes still answer, liveness holds, readiness says down; one Triton
  restarted on its ports brings serving back without restarting the router.
"""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from loadtest.load import (RouterProcess, closed_loop, goodput_bins, metric_total, open_loop, register,
                           summarize)
from tests.audio.files import encode
from vomid.tritonserver import TritonServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

SPIKE_S = 20.0
ROUTER_PEAK_MB = 600  # what the router may hold at the peak of a 3x spike (measured ~140 MB; bodies are 96 KB)


@pytest.fixture(scope="module")
def tritons(model_repository):
    servers = [TritonServer(model_repository, name=f"overload{i}").start() for i in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def payloads(speech) -> list[bytes]:
    return [encode(clip[: 3 * 16000], "wav16") for clips in speech.values() for clip in clips][:8]


@pytest.fixture
def router(tritons, tmp_path):
    # The adaptive limit tuned for latency (the defaults favour throughput: see README, "Overload").
    with RouterProcess(tmp_path, triton={"instances": [t.grpc_url for t in tritons], "health_interval_s": 0.5},
                       overload={"body_timeout_s": 2.0, "latency_tolerance": 2.0, "min_requests": 2},
                       api={"decode_workers": 1}) as process:
        yield process


async def test_a_spike_at_three_times_saturation_is_shed_cleanly(router, payloads):
    await router.wait_ready()
    user = await register(router.url, payloads[0])
    await closed_loop(router.url, payloads, user, 2, 2.0)  # warm-up
    full = summarize(await closed_loop(router.url, payloads, user, 4, 5.0), 5.0)
    saturation = full["goodput_per_s"]
    half = summarize(await open_loop(router.url, payloads, user, saturation / 2, 8.0), 8.0)
    spike = summarize(await open_loop(router.url, payloads, user, saturation * 3, SPIKE_S, timeout_s=30), SPIKE_S)
    after = goodput_bins(await closed_loop(router.url, payloads, user, 4, 4.0), 0.5, 4.0)
    report = f"saturation {full}, half load {half}, spike {spike}, after {after}"
    assert set(spike["statuses"]) <= {"200", "503"}, report
    assert spike["unavailable_without_retry_after"] == 0 and spike["client_timeouts"] == 0, report
    assert int(spike["statuses"].get("503", 0)) > 0, report  # it really was overloaded
    assert spike["goodput_per_s"] >= 0.7 * saturation, report  # no congestion collapse
    assert await metric_total(router.url, "vomid_triton_ejections_total") == 0, report
    assert router.memory_mb()["peak_mb"] < ROUTER_PEAK_MB, report
    # The target is 2x. On a 2-core machine shared by the load generator, the router and both Tritons the
    # adaptive limit holds about 2.2-2.9x (python -m loadtest.bench_overload, see README); before admission control
    # a spike took admitted requests from 0.5 s to 9 s. The test guards the order of magnitude: 4x the latency of a
    # service that is busy but not overloaded. The reference is the slower of half load and the closed loop at
    # saturation: half load alone has ~70 answers, so its p99 is one unlucky request on a noisy machine (CI once saw
    # 595 ms against a 143 ms half-load p99 while the spike's p50 stayed at 2x).
    busy = {q: max(half[q], full[q]) for q in ("p50_ms", "p99_ms")}
    assert spike["p99_ms"] <= 4 * busy["p99_ms"], report
    assert spike["p50_ms"] <= 4 * busy["p50_ms"], report
    # Back to serving right after: the first 2 s average at least 0.7x saturation (before admission control the
    # service served nobody after a spike). Not one 0.5 s bin against 0.9x: a bin holds ~6 answers, so one request
    # is 2/s, and CI once saw bins of 10, 8, 10, 8 against a saturation of 11.8/s.
    assert sum(after[:4]) / 4 >= 0.7 * saturation, report


async def test_a_slow_upload_is_cut_off_without_holding_a_decoder(router, payloads):
    await router.wait_ready()
    user = await register(router.url, payloads[0])
    slow = socket.create_connection(("127.0.0.1", router.port))
    slow.sendall(b"POST /api/v1/voiceprint/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                 b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n")
    started = time.monotonic()

    async def trickle() -> bytes:
        slow.setblocking(False)
        loop = asyncio.get_running_loop()
        while time.monotonic() - started < 10:
            try:
                slow.send(b"x")
            except OSError:
                break
            try:
                return await asyncio.wait_for(loop.sock_recv(slow, 4096), 1.0)  # one byte a second
            except asyncio.TimeoutError:
                continue
        return b""

    pending = asyncio.create_task(trickle())
    served = summarize(await closed_loop(router.url, payloads, user, 1, 1.5), 1.5)  # the one decoder is free
    answer = await pending
    elapsed = time.monotonic() - started
    slow.close()
    assert served["statuses"] == {"200": served["requests"]} and served["requests"] >= 1
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer, answer[:300]
    assert 2.0 <= elapsed < 6.0
    assert await metric_total(router.url, 'vomid_shed_total{reason="body_timeout"}') == 1


async def test_with_every_triton_down_reads_still_answer_and_serving_resumes(router, tritons, payloads):
    await router.wait_ready()
    user = await register(router.url, payloads[0], name="survivor")
    spare = await register(router.url, payloads[1], name="to-delete")
    ports = [(t.http_port, t.grpc_port, t.metrics_port) for t in tritons]
    for server in tritons:
        server.kill()
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def status(method: str, path: str, **kwargs) -> int:
            async with session.request(method, router.url + path, **kwargs) as response:
                await response.read()
                return response.status

        deadline = time.monotonic() + 20
        while await status("GET", "/health/ready") != 503:  # the health checks notice (0.5 s interval)
            assert time.monotonic() < deadline, "readiness never reported the outage"
            await asyncio.sleep(0.2)
        assert await status("GET", "/health/live") == 200
        assert await status("GET", f"/api/v1/voiceprint/{user}") == 200
        assert await status("GET", "/api/v1/voiceprints") == 200
        assert await status("DELETE", f"/api/v1/voiceprint/{spare}") == 200
        form = aiohttp.FormData()
        form.add_field("user_id", user)
        form.add_field("audio", payloads[0], filename="a.wav")
        assert await status("POST", "/api/v1/voiceprint/verify", data=form) == 503

        first = tritons[0]
        revived = TritonServer(first.model_repository, http_port=ports[0][0], grpc_port=ports[0][1],
                               metrics_port=ports[0][2], name="overload0-revived").start()
        tritons[0] = revived  # the module fixture stops it
        deadline = time.monotonic() + 30
        while await status("GET", "/health/ready") != 200:
            assert time.monotonic() < deadline, "the router never saw the restarted Triton"
            await asyncio.sleep(0.2)
    answers = await closed_loop(router.url, payloads, user, 1, 1.0)
    assert {a.status for a in answers} == {200}
