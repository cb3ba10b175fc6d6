"""Fixtures for the store tests: a real redis-server on a free port, keys, and one store per backend."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis

from store.config import StorageConfig
from store.crypto import generate_key
from store.factory import create_store

REDIS_BIN = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throwaway redis-server (no persistence unless asked) that tests can also stop or kill."""

    def __init__(self, workdir: Path, *extra: str, client: dict | None = None, port: int | None = None,
                 binary: str | None = None):
        self.port = port or free_port()
        self.workdir = Path(workdir)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client_kwargs = {"port": self.port, **(client or {})}
        defaults = ["--save", "", "--appendonly", "no"]
        args = [binary or REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", *defaults,
                "--dir", str(workdir), *extra]
        if "--tls-port" in extra:
            args[args.index("--port") + 1] = "0"
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.wait_ready()

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(**{**self.client_kwargs, **kw})

    def wait_ready(self, timeout: float = 10.0) -> None:
        client = self.client(socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while True:  # poll for readiness: no fixed sleep
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"redis-server did not start: {self.proc.stderr.read()!r}")
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _need_redis() -> None:
    if REDIS_BIN is None:
        pytest.skip("redis-server binary not found on PATH (apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    _need_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server for one test (it may be stopped by the test)."""
    _need_redis()
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def redis_prefix(redis_server):
    """A key prefix private to one test; its keys are removed afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_server.url)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def make_config(kind: str, tmp_path: Path, key: str, request, **overrides) -> StorageConfig:
    d = {"type": kind, "encryption_key": key, **overrides}
    if kind == "file":
        d.setdefault("path", str(tmp_path / "store"))
    if kind == "redis":
        d["redis_url"] = request.getfixturevalue("redis_server").url
        d.setdefault("redis_prefix", request.getfixturevalue("redis_prefix"))
    return StorageConfig.from_dict(d)


@pytest.fixture(params=["memory", "file", "redis"])
def backend(request) -> str:
    return request.param


@pytest.fixture
async def store_factory(backend, tmp_path, key, request):
    """open_store(**settings) -> an opened store of the parametrised backend, closed at teardown."""
    opened = []

    async def open_store(location: int = 0, **overrides):
        """Stores opened with the same `location` share their data (dir / key prefix)."""
        if backend == "file":
            overrides.setdefault("path", str(tmp_path / f"store{location}"))
        if backend == "redis":
            overrides.setdefault("redis_prefix", f"{request.getfixturevalue('redis_prefix')}x{location}")
        store = create_store(make_config(backend, tmp_path, key, request, **overrides))
        await store.open()
        opened.append(store)
        return store

    yield open_store
    for s in opened:
        await s.close()


@pytest.fixture
async def store(store_factory):
    return await store_factory()


def unit(rng: np.random.Generator, dim: int, n: int | None = None) -> np.ndarray:
    v = rng.standard_normal((n or 1, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v if n else v[0]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
