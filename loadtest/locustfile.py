"""Locust profile: the production mix against a router or the cluster's front door.

    locust -f loadtest/locustfile.py --host https://127.0.0.1:8443 --headless -u 32 -r 8 -t 2m

Mix per simulated user: register 5 %, verify 1:1 55 %, verify 1:N 25 %, identify 15 % (each user registers once at
start, so 1:1 has someone to claim).

Environment:
- VOIMID_LOCUST_KEYS: comma-separated API keys (admin scope); simulated user i uses key i mod n. The rate limiter
  budgets each key (rate_limit.rate_per_s), so a load run needs about users / (rate_per_s / per-user rate) keys,
  or one key per user to measure capacity rather than the limiter. Make them with
  `python -m router.keys new --scope admin --id load-N --file <the routers' key file>` (then restart the routers),
  or let `python -m loadtest.chaos` do it. VOIMID_API_KEY (one key) still works.
- VOIMID_LOCUST_RATE: requests per second per user (constant throughput); default: as fast as answered (0-0.2 s).
- VOIMID_CA_FILE: the CA certificate that signed the front door's TLS certificate (the local cluster's
  secrets/tls_cert); default: the system's CAs.
- VOIMID_LOCUST_AUDIO: a speech file to send; default 3 s of generated noise (fine for load, meaningless for accuracy).
- VOIMID_LOCUST_LOG: write one JSON line per request (time, name, status, ms) for time-series reports.
- VOIMID_LOCUST_ACKED: append the user_id of every acknowledged (201) registration, one per line.
"""
from __future__ import annotations

import io
import itertools
import json
import threading
import time

import numpy as np
import soundfile as sf
from locust import HttpUser, between, constant_throughput, events, task

from settings.env import variable

SAMPLE_RATE = 16000
_keys = [k for k in (variable("LOCUST_KEYS", legacy_name="API_KEYS") or variable("API_KEY") or "").split(",")
         if k] or [""]
_next_key = itertools.count()
_lock = threading.Lock()
_log_path, _acked_path = variable("LOCUST_LOG"), variable("LOCUST_ACKED")
_log = open(_log_path, "a", buffering=1) if _log_path else None
_acked = open(_acked_path, "a", buffering=1) if _acked_path else None


def _clip() -> bytes:
    path = variable("LOCUST_AUDIO")
    if path:
        with open(path, "rb") as handle:
            return handle.read()
    wave = np.random.default_rng(0).normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


CLIP = _clip()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **_):
    if _log is None:
        return
    status = getattr(response, "status_code", 0) or 0
    with _lock:
        _log.write(json.dumps({"t": round(time.time(), 3), "name": name, "status": status,
                               "ms": round(response_time, 1), "ok": exception is None}) + "\n")


def _wait_time():
    rate = float(variable("LOCUST_RATE") or 0)
    return constant_throughput(rate) if rate > 0 else between(0.0, 0.2)


class VoiceprintUser(HttpUser):
    wait_time = _wait_time()

    def on_start(self):
        self.client.headers["X-API-Key"] = _keys[next(_next_key) % len(_keys)]
        ca_file = variable("CA_FILE")
        if ca_file:
            self.client.trust_env = False  # else $REQUESTS_CA_BUNDLE silently replaces this verify setting
            self.client.verify = ca_file
        self.user_id = None
        self.register()

    def _audio(self):
        return {"audio": ("clip.wav", CLIP, "audio/wav")}

    @task(5)
    def register(self):
        with self.client.post("/api/v1/voiceprint/register", data={"name": "locust"}, files=self._audio(),
                              name="register", catch_response=True) as response:
            if response.status_code == 201:
                user_id = response.json()["user_id"]
                self.user_id = self.user_id or user_id
                if _acked is not None:
                    with _lock:
                        _acked.write(user_id + "\n")

    @task(55)
    def verify_claimed(self):
        data = {"user_id": self.user_id} if self.user_id else {}
        self.client.post("/api/v1/voiceprint/verify", data=data, files=self._audio(),
                         name="verify 1:1" if self.user_id else "verify 1:N")

    @task(25)
    def verify_best_match(self):
        self.client.post("/api/v1/voiceprint/verify", files=self._audio(), name="verify 1:N")

    @task(15)
    def identify(self):
        self.client.post("/api/v1/voiceprint/identify", data={"top_k": "5"}, files=self._audio(), name="identify")
