"""Load against a real router process: start it, offer closed- or open-loop verify traffic, account every answer.

Shared by the benchmarks (bench_router, bench_overload) and the overload tests, so a figure in a report and an
assertion in a test come from the same code. Every request's fate is kept: its status, latency, whether a 503
carried Retry-After, or a client-side timeout (status 0).
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from vomid.tritonserver import free_port

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 0  # the status of a request the client gave up on


@dataclass(frozen=True)
class Answer:
    sent_at: float  # seconds since the phase started
    status: int
    latency_s: float
    retry_after: bool


class RouterProcess:
    """`python -m router --config` on a free port with the given settings (auth and rate limits off by default)."""

    def __init__(self, workdir: Path, **sections):
        self.port = free_port()
        settings = {"environment": "test", "api": {"host": "127.0.0.1", "port": self.port},
                    "auth": {"enabled": False}, "rate_limit": {"enabled": False}, "storage": {"type": "memory"},
                    "logging": {"level": "WARNING"}, "audit": {"enabled": False}}
        for name, values in sections.items():
            settings[name] = {**settings.get(name, {}), **values}
        self.config = workdir / f"router-{self.port}.json"
        self.config.write_text(json.dumps(settings))
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RouterProcess":
        self.process = subprocess.Popen([sys.executable, "-m", "router", "--config", str(self.config)], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def __enter__(self) -> "RouterProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def memory_mb(self) -> dict[str, float]:
        """Current (VmRSS) and peak (VmHWM) resident memory of the router process."""
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return {"rss_mb": fields["VmRSS"], "peak_mb": fields["VmHWM"]}

    async def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"router exited with {self.process.returncode}: {self.process.stderr.read()}")
                try:
                    async with session.get(f"{self.url}/health/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)  # polling readiness
        raise RuntimeError("router not ready")


def verify_form(payload: bytes, user_id: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("user_id", user_id)
    form.add_field("audio", payload, filename="clip.wav", content_type="audio/wav")
    return form


async def register(url: str, payload: bytes, name: str = "load") -> str:
    form = aiohttp.FormData()
    form.add_field("name", name)
    form.add_field("audio", payload, filename="enroll.wav", content_type="audio/wav")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/v1/voiceprint/register", data=form) as response:
            body = await response.json()
            if response.status != 201:
                raise RuntimeError(f"register answered {response.status}: {body}")
            return body["user_id"]


async def _verify(session: aiohttp.ClientSession, url: str, payload: bytes, user_id: str, started: float,
                  timeout_s: float) -> Answer:
    sent = time.perf_counter()
    try:
        async with session.post(f"{url}/api/v1/voiceprint/verify", data=verify_form(payload, user_id),
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            await response.read()
            return Answer(sent - started, response.status, time.perf_counter() - sent,
                          "Retry-After" in response.headers)
    except (asyncio.TimeoutError, aiohttp.ClientError):
        return Answer(sent - started, TIMEOUT, time.perf_counter() - sent, False)


REFUSED_PAUSE_S = 0.1  # a closed-loop client refused with 503 pauses before its next request, as a polite one does


async def closed_loop(url: str, payloads: list[bytes], user_id: str, concurrency: int, seconds: float,
                      timeout_s: float = 60.0) -> list[Answer]:
    """`concurrency` clients each sending the next request as soon as the last is answered, for `seconds`."""
    answers: list[Answer] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()

        async def client(offset: int) -> None:
            n = offset
            while time.perf_counter() < started + seconds:
                answer = await _verify(session, url, payloads[n % len(payloads)], user_id, started, timeout_s)
                answers.append(answer)
                n += concurrency
                if answer.status == 503:
                    await asyncio.sleep(REFUSED_PAUSE_S)  # not a busy loop of refusals

        await asyncio.gather(*(client(i) for i in range(concurrency)))
    return answers


async def open_loop(url: str, payloads: list[bytes], user_id: str, rate: float, seconds: float,
                    timeout_s: float = 60.0) -> list[Answer]:
    """Requests on a fixed arrival schedule, whether or not earlier ones were answered (offered load)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks, started, n = [], time.perf_counter(), 0
        while (due := started + n / rate) < started + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))  # the arrival schedule, not a readiness wait
            tasks.append(asyncio.create_task(_verify(session, url, payloads[n % len(payloads)], user_id, started,
                                                     timeout_s)))
            n += 1
        return list(await asyncio.gather(*tasks))


def summarize(answers: list[Answer], seconds: float) -> dict:
    """Goodput (200s per second), status counts, p50/p99 of the 200s, 503s lacking Retry-After, timeouts."""
    ok = np.array([a.latency_s for a in answers if a.status == 200])
    statuses = Counter(a.status for a in answers)
    return {"requests": len(answers), "goodput_per_s": len(ok) / seconds,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "p50_ms": float(np.percentile(ok, 50) * 1000) if ok.size else None,
            "p99_ms": float(np.percentile(ok, 99) * 1000) if ok.size else None,
            "unavailable_without_retry_after": sum(a.status == 503 and not a.retry_after for a in answers),
            "client_timeouts": statuses.get(TIMEOUT, 0)}


def goodput_bins(answers: list[Answer], bin_s: float, seconds: float) -> list[float]:
    """200s per second in consecutive bins of `bin_s`, by the time each request was sent."""
    bins = [0] * max(1, int(round(seconds / bin_s)))
    for answer in answers:
        if answer.status == 200 and answer.sent_at < seconds:
            bins[min(len(bins) - 1, int(answer.sent_at / bin_s))] += 1
    return [count / bin_s for count in bins]


async def metric_total(url: str, name: str) -> float:
    """The sum of every sample of a counter on the router's /metrics."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as response:
            text = await response.text()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))
