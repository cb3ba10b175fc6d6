"""Helpers for tests that run the router as a real process: JSON GETs, a readiness poll, a minimal config, and a
start-check-stop run."""
from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from router.keys import append_key


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_healthy(port: int, process: subprocess.Popen, timeout: float) -> tuple[int | None, dict]:
    """Polls /health until it answers 200, the process exits, or `timeout` passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    status, body = None, {}
    while time.monotonic() < deadline and process.poll() is None:
        try:
            status, body = get(f"http://127.0.0.1:{port}/health")
            if status == 200:
                break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    return status, body


def write_router_config(directory: Path | str, port: int, grpc_url: str) -> Path:
    """A minimal router config on `port` over one Triton, memory store, with an admin key file in `directory`."""
    directory = Path(directory)
    append_key(directory / "api_keys", ["admin"], "admin")
    config = directory / "router.yaml"
    config.write_text(json.dumps({
        "api": {"host": "127.0.0.1", "port": port}, "auth": {"keys_file": str(directory / "api_keys")},
        "storage": {"type": "memory"}, "triton": {"instances": [grpc_url]}}))
    return config


def serve_until_healthy(command: list[str], port: int, cwd: Path | str, timeout: float) -> str:
    """Starts `command`, asserts its /health reaches 200 "ok", stops it with Ctrl-C; asserts a clean exit and
    returns its output."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, body = wait_healthy(port, process, timeout=timeout)
        assert status == 200 and body["status"] == "ok", body
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-3000:]
    return output
