"""Fixtures for the store tests: real redis-server and PostgreSQL servers on free ports, keys, and one store
per backend."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
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
INITDB = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None) or shutil.which("initdb")


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


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port, its unix socket in its own directory.

    initdb refuses to run as root (CI runs as root), so there the cluster belongs to the `postgres` system
    user and every server command runs through `runuser -u postgres`.
    """

    def __init__(self):
        self.bindir = Path(INITDB).parent
        self.dir = Path(tempfile.mkdtemp(prefix="vomid-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.user, self.password, self.database = "vomid", "vomid-test-pw", "vomid"
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                  "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "log"), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        for sql in (f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'",
                    f"CREATE DATABASE {self.database} OWNER {self.user}"):
            self.psql(sql)

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stderr or proc.stdout}")

    def psql(self, sql: str, database: str = "postgres") -> None:
        self._run("psql", "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "-d", database,
                  "-v", "ON_ERROR_STOP=1", "-c", sql)

    def settings(self, prefix: str) -> dict:
        return {"db_host": "127.0.0.1", "db_port": self.port, "db_user": self.user, "db_password": self.password,
                "db_name": self.database, "db_table_prefix": prefix}

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def _need_postgres() -> None:
    if INITDB is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a `postgres` system user to own the test cluster")


@pytest.fixture(scope="session")
def pg_server():
    _need_postgres()
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def pg_prefix(pg_server):
    """A table prefix private to one test; its tables are dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    for n in range(4):
        tables = ", ".join(f"{prefix}{f'x{n}' if n < 3 else ''}_{t}" for t in ("meta", "users", "events"))
        pg_server.psql(f"DROP TABLE IF EXISTS {tables}", database=pg_server.database)


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
    if kind == "postgres":
        pg = request.getfixturevalue("pg_server")
        d = {**pg.settings(request.getfixturevalue("pg_prefix")), **d}
    return StorageConfig.from_dict(d)


@pytest.fixture(params=["memory", "file", "redis", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
async def store_factory(backend, tmp_path, key, request):
    """open_store(**settings) -> an opened store of the parametrised backend, closed at teardown."""
    opened = []
    if backend in ("redis", "postgres"):   # set up first, so it is torn down after the stores are closed
        request.getfixturevalue("redis_prefix" if backend == "redis" else "pg_prefix")

    async def open_store(location: int = 0, **overrides):
        """Stores opened with the same `location` share their data (dir / key prefix)."""
        if backend == "file":
            overrides.setdefault("path", str(tmp_path / f"store{location}"))
        if backend == "redis":
            overrides.setdefault("redis_prefix", f"{request.getfixturevalue('redis_prefix')}x{location}")
        if backend == "postgres":
            overrides.setdefault("db_table_prefix", f"{request.getfixturevalue('pg_prefix')}x{location}")
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
