"""A labelling job survives a router SIGKILL: resumed on restart, or failed once out of attempts, never lost."""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import soundfile as sf

from loadtest.meetings import build_meeting, read_clips, speakers_with_audio
from router.keys import append_key
from tests.router.process import wait_healthy
from tests.shared_data import AUDIO, utterances
from vomid.tritonserver import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recording() -> bytes:
    utterances()  # skips without ../shared
    from engine.vad import SileroVad
    from tools.export.vad import silero_onnx

    clips = read_clips(AUDIO)
    meeting = build_meeting(clips, speakers_with_audio(clips)[:2], 120.0, SileroVad(silero_onnx()[0]), seed=2)
    buffer = io.BytesIO()
    sf.write(buffer, meeting.waveform, 16000, format="FLAC")
    return buffer.getvalue()


class Router:
    def __init__(self, triton, tmp_path: Path):
        self.port = free_port()
        self.keys = tmp_path / "keys"
        self.key, _ = append_key(self.keys, ["label"], "label")
        self.tmp, self.triton, self.process = tmp_path, triton, None

    def start(self, max_attempts: int) -> None:
        config = self.tmp / "router.json"
        config.write_text(json.dumps({
            "api": {"host": "127.0.0.1", "port": self.port}, "auth": {"keys_file": str(self.keys)},
            "storage": {"type": "memory"}, "rate_limit": {"enabled": False},
            "triton": {"instances": [self.triton.grpc_url]}, "audit": {"enabled": False},
            "recordings": {"spool_dir": str(self.tmp / "spool"), "heartbeat_s": 0.5, "stale_after_s": 5,
                           "max_attempts": max_attempts}}))
        self.process = subprocess.Popen([sys.executable, "main.py", "--config", str(config)], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        status, _ = wait_healthy(self.port, self.process, timeout=60)
        assert status == 200, "the router did not become healthy"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(30)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/recordings{path}"

    def submit(self, data: bytes) -> str:
        response = requests.post(self.url(), files={"audio": ("m.flac", data)}, headers={"X-API-Key": self.key},
                                 timeout=30)
        assert response.status_code == 202, response.text
        return response.json()["job_id"]

    def job(self, job_id: str) -> dict:
        response = requests.get(self.url(f"/{job_id}"), headers={"X-API-Key": self.key}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, job_id: str, done, timeout: float = 180.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.job(job_id)
            if done(body):
                return body
            time.sleep(0.05)
        raise AssertionError(f"job {job_id}: {body}")


@pytest.fixture
def router(triton, tmp_path):
    router = Router(triton, tmp_path)
    yield router
    router.stop()


def _mid_way(body: dict) -> bool:
    assert body["status"] in ("queued", "running"), body
    return body["status"] == "running" and body["progress"] >= 0.35  # past the VAD, embedding windows


def test_sigkill_mid_job_then_resume_or_fail(router, recording):
    router.start(max_attempts=2)
    job_id = router.submit(recording)
    router.wait(job_id, _mid_way)
    router.kill()
    spooled = list((router.tmp / "spool" / "audio").iterdir())
    assert [p.name for p in spooled] == [f"{job_id}.audio"]  # the audio waits for the restart

    router.start(max_attempts=2)
    done = router.wait(job_id, lambda b: b["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert done["result"]["segments"]
    assert not list((router.tmp / "spool" / "audio").iterdir())

    second = router.submit(recording)
    router.wait(second, _mid_way)
    router.kill()
    router.start(max_attempts=1)  # this job has had its one start: it must be failed, visibly
    failed = router.wait(second, lambda b: b["status"] != "running" and b["status"] != "queued", timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] == "job_interrupted", failed
    assert not list((router.tmp / "spool" / "audio").iterdir())
