"""The local cluster as a session fixture: real nginx, 2 routers, 2 Tritons, Redis + Sentinels, Prometheus.

Started from the shipped configs exactly as `scripts/deploy.sh deploy --local` starts them; the only test setting
is Prometheus's cycle (1 s scrapes and rule evaluations instead of 10 s), so alerts fire within their `for:` window
plus seconds rather than tens of seconds.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
import requests
import soundfile as sf

from cluster.local import LocalCluster
from cluster.spec import REPO, ClusterSpec
from tests.shared_data import utterances

TOOLS = ("nginx", "prometheus", "redis-server", "redis-sentinel", "openssl")


@pytest.fixture(scope="session")
def local_cluster(model_repository, tmp_path_factory) -> LocalCluster:
    missing = [t for t in TOOLS if not (shutil.which(t) or shutil.which(t, path="/usr/sbin:/usr/bin"))]
    if missing:
        pytest.skip(f"the local cluster needs {', '.join(missing)} (scripts/test.sh installs them with apt-get)")
    spec = ClusterSpec(directory=tmp_path_factory.mktemp("cluster"), model_repository=model_repository,
                       routers=2, tritons=2, scrape_interval="1s", evaluation_interval="1s")
    cluster = LocalCluster.create(spec)
    try:
        cluster.deploy()
    except BaseException:
        cluster.down()
        raise
    yield cluster
    cluster.down()


@pytest.fixture(scope="session")
def front(local_cluster) -> "Front":
    return Front(local_cluster)


@pytest.fixture(scope="session")
def clips() -> list[bytes]:
    """Four short real utterances of different speakers, as WAV bytes."""
    chosen, speakers = [], set()
    for utt in utterances():
        if 2.0 <= utt.seconds <= 6.0 and utt.speaker not in speakers:
            speakers.add(utt.speaker)
            buffer = io.BytesIO()
            sf.write(buffer, utt.load().astype(np.float32), 16000, format="WAV", subtype="PCM_16")
            chosen.append(buffer.getvalue())
    assert len(chosen) >= 4, "need four speakers with 2-6 s utterances in ../shared/audio"
    return chosen[:4]


class Front:
    """The cluster's front door (nginx, TLS): requests carry a request id, so nginx's log says which router served."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = cluster.admin_key()

    def request(self, method: str, path: str, audio: bytes | None = None, key: str | None = None,
                **fields) -> tuple[requests.Response, str]:
        request_id = uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        if key is not None:
            headers["X-API-Key"] = key
        # verify per request: requests lets $REQUESTS_CA_BUNDLE override a session's verify setting
        files = {"audio": ("clip.wav", audio, "audio/wav")} if audio is not None else None
        response = self.session.request(method, self.cluster.url + path, data=fields or None, files=files,
                                        headers=headers, timeout=60, verify=str(self.cluster.cafile))
        return response, request_id

    def upstream(self, request_id: str, timeout: float = 10.0) -> str:
        """The router address nginx sent a request to (its access log), polled until the line is written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.cluster.log_path("nginx").read_text(errors="replace").splitlines():
                if f"id={request_id}" in line:
                    return line.split("upstream=", 1)[1].split("/", 1)[0]
            time.sleep(0.05)
        raise AssertionError(f"request {request_id} is not in nginx's access log")

    def router_at(self, address: str) -> str:
        state = self.cluster.state
        return next(n for n in state.names("router") if state.address(n, "api") in address.split(", ")[-1])

    def register(self, audio: bytes, name: str) -> str:
        response, _ = self.request("POST", "/api/v1/voiceprint/register", audio, name=name)
        assert response.status_code == 201, response.text
        return response.json()["user_id"]


def deploy_sh(cluster: LocalCluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """scripts/deploy.sh --local --dir DIR ARGS, as an operator runs it."""
    return subprocess.run([str(REPO / "scripts" / "deploy.sh"), "--local", "--dir", str(cluster.directory), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "VOIMID_PYTHON": sys.executable})
