"""Helpers for tests that run the router as a real process: JSON GETs and a readiness poll."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request


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
