"""Session fixtures shared by every test package: model repositories (a random-weight CAM++, the real GE2E) and
real Triton servers on them."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from vomid.tritonserver import TritonServer

RANDOM_SEED = 7
EMBEDDING_DIM = 512


@pytest.fixture(scope="session")
def campplus_model():
    """The seeded random-weight CAM++ (PyTorch, eval mode): the in-process reference for parity tests."""
    pytest.importorskip("torch", reason="PyTorch (the export extra) is needed for the reference model")
    from tools.export.campplus import random_campplus

    return random_campplus(EMBEDDING_DIM, RANDOM_SEED)


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory) -> Path:
    """A CPU model repository exported from the same seeded random-weight CAM++."""
    from tools.export.pipeline import ExportRequest, run_export
    from tools.export.repository import RepositoryOptions

    root = tmp_path_factory.mktemp("model_repository")
    run_export(ExportRequest(output=root, random_weights=True, embedding_dim=EMBEDDING_DIM, seed=RANDOM_SEED,
                             repository=RepositoryOptions(max_queue_delay_us=5000, features_queue_delay_us=5000)))
    return root


@pytest.fixture(scope="session")
def int8_repository(tmp_path_factory) -> Path:
    """The same random-weight CAM++ exported with --precision int8 (written despite missing the cosine target,
    because its weights are random: see the manifest's int8_cosines)."""
    from tools.export.pipeline import ExportRequest, run_export

    root = tmp_path_factory.mktemp("int8_repository")
    run_export(ExportRequest(output=root, random_weights=True, embedding_dim=EMBEDDING_DIM, seed=RANDOM_SEED,
                             precision="int8", vad=False))
    return root


@pytest.fixture(scope="session")
def ge2e_repository(tmp_path_factory) -> Path:
    """A CPU model repository of the real GE2E encoder (Resemblyzer's PyPI weights), exported once per session.

    The export checks itself against Resemblyzer on real speech and records the threshold it calibrates on
    ../shared/audio (or the documented constant where that is absent): see the manifest.
    """
    pytest.importorskip("torch", reason="PyTorch (the export extra) is needed to export GE2E")
    from tools.export.pipeline import ExportRequest, run_export
    from tools.export.repository import RepositoryOptions

    root = tmp_path_factory.mktemp("ge2e_repository")
    run_export(ExportRequest(output=root, model="ge2e",
                             repository=RepositoryOptions(max_queue_delay_us=5000, features_queue_delay_us=5000)))
    return root


@pytest.fixture(scope="session")
def triton_factory(request):
    """Starts real tritonserver processes on free ports; all are stopped at the end of the session.

    Without a repository it serves the random-weight CAM++ one (exported only when first needed).
    """
    servers: list[TritonServer] = []

    def start(repository: Path | None = None, name: str | None = None) -> TritonServer:
        repository = repository or request.getfixturevalue("model_repository")
        server = TritonServer(repository, name=name or f"triton{len(servers)}")
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def triton(triton_factory, model_repository) -> TritonServer:
    return triton_factory(model_repository, name="triton-main")


@pytest.fixture(scope="session")
def ge2e_triton(triton_factory, ge2e_repository) -> TritonServer:
    """A tritonserver serving the real GE2E model: for accuracy tests at any level (engine, router, SDK)."""
    return triton_factory(ge2e_repository, name="triton-ge2e")


@pytest.fixture(scope="session")
def redis_url():
    """A private redis-server on a free port (no persistence), for shared rate limits and redis storage."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # poll readiness
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def pytest_configure(config):
    logging.getLogger("tritonserver").setLevel(logging.WARNING)
    os.environ.setdefault("VOIMID_OFFLINE", "1")  # nothing downloads at test time
