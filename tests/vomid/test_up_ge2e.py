"""`vomid up --model ge2e` from an empty folder, as a site without hub access runs it (what `./scripts/up.sh --model
ge2e` execs once the venv is set up): it exports GE2E from the weights the Resemblyzer wheel ships, serves it, and the
README's SDK example tells real speakers apart at the model's recorded threshold."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import defaultdict

import pytest

from client import VoMIDClient
from tests.router.process import wait_healthy
from tests.shared_data import utterances
from vomid.tritonserver import free_port

KEY = re.compile(r"^\s+(vmd_\S+)\s*$", re.MULTILINE)
OFFLINE = {"HF_HUB_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1", "NO_PROXY": "*",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}  # any download would fail


def two_speakers():
    """The two speakers with the most audio, each with its utterances longest first."""
    by_speaker = defaultdict(list)
    for utterance in utterances():
        by_speaker[utterance.speaker].append(utterance)
    ranked = sorted(by_speaker.values(), key=lambda u: (-sum(x.seconds for x in u), u[0].speaker))
    first, second = ([u for u in sorted(group, key=lambda u: -u.seconds) if u.seconds >= 2] for group in ranked[:2])
    return first, second


@pytest.mark.slow
def test_up_with_ge2e_recognises_speakers_through_the_sdk(tmp_path):
    alice, bob = two_speakers()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "vomid", "up", "--model", "ge2e", "--port", str(port)],
                               cwd=tmp_path, env={**os.environ, **OFFLINE}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        status, body = wait_healthy(port, process, timeout=420)
        assert status == 200 and body["status"] == "ok", (body, "".join(output)[-3000:])
        key = KEY.search("".join(output)).group(1)
        client = VoMIDClient(f"http://127.0.0.1:{port}", api_key=key)

        health = client.health()
        assert health.status == "ok" and not health.random_weights
        model = health.raw["model"]   # the admin key sees which model serves
        assert model["name"] == "ge2e" and model["embedding_dim"] == 256 and not model["random_weights"]
        threshold = model["recommended_threshold"]
        assert 0.5 < threshold < 0.95

        user_id = client.register_voiceprint(name="Alice", audio_file=str(alice[0].path))
        for probe in alice[1:3]:
            result = client.verify_voiceprint(audio_file=str(probe.path), user_id=user_id)
            assert result.verified and result.threshold == threshold, (probe.path, result)
            assert result.raw["model"]["name"] == "ge2e"
        for probe in bob[:2]:
            result = client.verify_voiceprint(audio_file=str(probe.path), user_id=user_id)
            assert not result.verified and result.confidence < threshold, (probe.path, result)
            assert client.verify_voiceprint(audio_file=str(probe.path)).verified is False  # 1:N names nobody
        assert client.verify_voiceprint(audio_file=str(alice[1].path)).user_id == user_id
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join(timeout=10)
    log = "".join(output)
    assert process.returncode == 0, log[-3000:]
    assert "exporting GE2E (Resemblyzer)" in log and "recommended threshold" in log
    assert (tmp_path / "model_repository" / "speaker" / "config.pbtxt").exists()
