"""Locust profile: a mix of verify (1:1 and 1:N) and identify calls against a running router.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --headless -u 32 -r 8 -t 2m

Environment: VOMID_API_KEY (an admin key: each simulated user enrolls itself first), VOMID_LOCUST_AUDIO (a
speech file to send; default: 3 s of generated noise, enough for load but meaningless for accuracy).
"""
from __future__ import annotations

import io
import os

import numpy as np
import soundfile as sf
from locust import HttpUser, between, task

SAMPLE_RATE = 16000


def _clip() -> bytes:
    path = os.environ.get("VOMID_LOCUST_AUDIO")
    if path:
        with open(path, "rb") as handle:
            return handle.read()
    wave = np.random.default_rng(0).normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


CLIP = _clip()


class VoiceprintUser(HttpUser):
    wait_time = between(0.0, 0.2)

    def on_start(self):
        self.client.headers["X-API-Key"] = os.environ.get("VOMID_API_KEY", "")
        response = self.client.post("/api/v1/voiceprint/register", data={"name": "locust"},
                                    files={"audio": ("clip.wav", CLIP, "audio/wav")}, name="register")
        self.user_id = response.json().get("user_id") if response.ok else None

    @task(5)
    def verify_claimed(self):
        data = {"user_id": self.user_id} if self.user_id else {}
        self.client.post("/api/v1/voiceprint/verify", data=data, files={"audio": ("clip.wav", CLIP, "audio/wav")},
                         name="verify 1:1" if self.user_id else "verify 1:N")

    @task(2)
    def verify_best_match(self):
        self.client.post("/api/v1/voiceprint/verify", files={"audio": ("clip.wav", CLIP, "audio/wav")},
                         name="verify 1:N")

    @task(1)
    def identify(self):
        self.client.post("/api/v1/voiceprint/identify", data={"top_k": "5"},
                         files={"audio": ("clip.wav", CLIP, "audio/wav")}, name="identify")
