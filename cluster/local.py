"""LocalCluster: deploy, stop, restart, kill, scale and inspect the local cluster's processes.

Start order follows the compose dependencies: Redis nodes, Sentinels, Triton instances, routers, nginx, Prometheus;
each kind is started together and polled until healthy before the next (a router needs Triton and Redis ready).
"""
from __future__ import annotations

import logging
import shutil
import signal
import sys
import time
from pathlib import Path

from cluster import health, process, render, secrets
from cluster.netns import NetHost
from cluster.spec import PORTS, REPO, ClusterSpec, ClusterState, router_names, service_names
from vomid.tritonserver import free_port

log = logging.getLogger(__name__)

REDIS_ENTRYPOINT = REPO / "compose" / "redis" / "entrypoint.sh"
KIND_ORDER = ("redis", "sentinel", "triton", "router", "nginx", "prometheus")
START_TIMEOUT_S = {"triton": 300.0, "router": 180.0}
DEFAULT_START_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """A service did not start or is unknown; the message carries the end of its log."""


class LocalCluster:
    def __init__(self, state: ClusterState):
        self.state = state

    @classmethod
    def create(cls, spec: ClusterSpec) -> "LocalCluster":
        """A new cluster directory (or the existing one, keeping its ports, secrets and data)."""
        if (spec.directory / "cluster.json").exists():
            return cls.open(spec.directory)
        state = ClusterState(spec=spec)
        cluster = cls(state)
        for name in service_names(spec):
            cluster._allocate(name)
        state.save()
        return cluster

    @classmethod
    def open(cls, directory: Path) -> "LocalCluster":
        return cls(ClusterState.load(directory))

    # -- paths and addresses ------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self.state.spec.directory

    @property
    def secrets_dir(self) -> Path:
        return self.directory / "secrets"

    @property
    def url(self) -> str:
        return f"https://{self.state.address('nginx', 'https')}"

    @property
    def cafile(self) -> Path:
        return self.secrets_dir / "tls_cert"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.state.address('prometheus', 'web')}"

    def admin_key(self) -> str:
        return secrets.admin_key(self.secrets_dir)

    def log_path(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    # -- lifecycle -------------------------------------------------------------------------------------------
    def reload(self) -> None:
        """The state as saved: another invocation (deploy.sh) may have started or stopped services since. Every
        operation reads it first, so a pid this object still remembers never overwrites a newer one."""
        self.state = ClusterState.load(self.directory)

    def deploy(self) -> None:
        self.reload()
        secrets.ensure(self.secrets_dir)
        self._render()
        for kind in KIND_ORDER:
            names = [n for n in self.state.names(kind) if not process.alive(self.state.pids.get(n))]
            for name in names:
                self._start(name)
            self.wait_healthy(names)

    def down(self) -> None:
        self.reload()
        for kind in reversed(KIND_ORDER):
            for name in self.state.names(kind):
                self.stop(name)
        for name in self.state.spec.isolated:
            NetHost.for_service(str(self.directory), name).delete()

    def start(self, name: str, wait: bool = True) -> None:
        self.reload()
        if not process.alive(self.state.pids.get(name)):
            self._start(name)
        if wait:
            self.wait_healthy([name])

    def stop(self, name: str) -> None:
        self.reload()
        self.state.kind(name)
        process.stop(self.state.pids.pop(name, None))
        self.state.save()

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Signals a service as a crash would; for Triton, the tritonserver itself (its launcher notices)."""
        self.reload()
        pid = self.state.pids.get(name)
        if not process.alive(pid):
            raise ClusterError(f"{name} is not running")
        target = pid
        if self.state.kind(name) == "triton":
            servers = [c for c in process.children(pid) if process.executable(c).endswith("tritonserver")]
            target = servers[0] if servers else pid
        process.signal_group(target, sig) if target == pid else _kill(target, sig)
        return target

    def net_host(self, name: str) -> NetHost:
        if name not in self.state.spec.isolated:
            raise ClusterError(f"{name} is not isolated in a network namespace (ClusterSpec.isolated)")
        return NetHost.for_service(str(self.directory), name)

    def scale(self, routers: int) -> None:
        """Starts or stops routers to have `routers` of them, then points nginx and Prometheus at the new set."""
        if routers < 1:
            raise ClusterError("scale: at least one router")
        self.reload()
        before = set(self.state.names("router"))
        self.state.spec.routers = routers
        after = set(router_names(routers))
        for name in sorted(before - after):
            process.stop(self.state.pids.pop(name, None))
        for name in sorted(after - before):
            self._allocate(name)
            self._render_router(name)
            self._start(name)
        self.state.save()
        self.wait_healthy(sorted(after - before))
        self._render()
        for name in ("nginx", "prometheus"):  # both re-read their config on SIGHUP
            if process.alive(self.state.pids.get(name)):
                process.signal_group(self.state.pids[name], signal.SIGHUP)

    # -- inspection ------------------------------------------------------------------------------------------
    def status(self) -> list[dict]:
        self.reload()
        rows = []
        for name, kind in service_names(self.state.spec).items():
            pid = self.state.pids.get(name)
            running = process.alive(pid)
            healthy, detail = health.probe(self.state, name) if running else (False, "not running")
            address = ", ".join(f"{role} {self.state.address(name, role)}" for role in PORTS[kind])
            rows.append({"name": name, "kind": kind, "pid": pid if running else None, "running": running,
                         "healthy": healthy, "health": detail, "address": address})
        return rows

    def redis_master(self) -> str:
        """The Redis node the Sentinels currently name as master."""
        master = self.redis_master_or_none()
        if master is None:
            raise ClusterError("no Sentinel names a master")
        return master

    def redis_master_or_none(self) -> str | None:
        by_address = {self.state.address(n, "redis"): n for n in self.state.names("redis")}
        for sentinel in self.state.names("sentinel"):
            address = health.sentinel_master(self.state, sentinel)
            if address in by_address:
                return by_address[address]
        return None

    def wait_healthy(self, names: list[str], timeout: float | None = None) -> None:
        pending = list(names)
        started = time.monotonic()
        while pending:
            for name in list(pending):
                if not process.alive(self.state.pids.get(name)):
                    raise ClusterError(f"{name} exited during start:\n{self.log_tail(name)}")
                if health.probe(self.state, name)[0]:
                    pending.remove(name)
            limit = timeout or max(START_TIMEOUT_S.get(self.state.kind(n), DEFAULT_START_TIMEOUT_S) for n in names)
            if pending and time.monotonic() - started > limit:
                details = {n: health.probe(self.state, n)[1] for n in pending}
                raise ClusterError(f"not healthy after {limit:.0f}s: {details}\n{self.log_tail(pending[0])}")
            if pending:
                time.sleep(0.2)  # polling the probes

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # -- internals -------------------------------------------------------------------------------------------
    def _allocate(self, name: str) -> None:
        kind = self.state.kind(name)
        if name in self.state.spec.isolated:
            self.state.hosts[name] = NetHost.for_service(str(self.directory), name).address
        self.state.ports.setdefault(name, {role: free_port() for role in PORTS[kind]})

    def _render(self) -> None:
        for name in self.state.names("router"):
            self._render_router(name)
        _write(self.directory / "nginx" / "nginx.conf", render.nginx_conf(self.state))
        _write(self.directory / "prometheus" / "prometheus.yml", render.prometheus_yml(self.state))

    def _render_router(self, name: str) -> None:
        _write(self.directory / "config" / f"{name}.yaml", render.router_config(self.state, name))

    def _start(self, name: str) -> None:
        kind = self.state.kind(name)
        command, env = self._command(name, kind)
        if name in self.state.spec.isolated:
            host = self.net_host(name)
            if not host.exists():
                host.create()
            command = host.wrap(command)
        self.state.pids[name] = process.start(command, self.log_path(name), env=env, cwd=self.directory)
        self.state.save()
        log.info("started %s (pid %d)", name, self.state.pids[name])

    def _command(self, name: str, kind: str) -> tuple[list[str], dict[str, str]]:
        directory, ports = self.directory, self.state.ports[name]
        python_env = {"PYTHONPATH": str(REPO)}
        if kind in ("redis", "sentinel"):
            (directory / "data" / name).mkdir(parents=True, exist_ok=True)
            role = "server" if kind == "redis" else "sentinel"
            return ["sh", str(REDIS_ENTRYPOINT), role], render.redis_env(self.state, name)
        if kind == "triton":
            return [sys.executable, "-m", "vomid.launch_triton", "--model-repository",
                    str(self.state.spec.model_repository), "--name", name, "--http-port", str(ports["http"]),
                    "--grpc-port", str(ports["grpc"]), "--metrics-port", str(ports["metrics"])], python_env
        if kind == "router":
            password = secrets.redis_password(self.secrets_dir)
            env = {**python_env, "VOIMID_REDIS_PASSWORD": password, "VOIMID_REDIS_SENTINEL_PASSWORD": password,
                   **self.state.spec.router_env}
            return [sys.executable, "-m", "router", "--config", str(directory / "config" / f"{name}.yaml")], env
        if kind == "nginx":
            (directory / "run").mkdir(exist_ok=True)
            return [_binary("nginx"), "-e", "stderr", "-c", str(directory / "nginx" / "nginx.conf"), "-p",
                    str(directory / "nginx"), "-g", f"daemon off; pid {directory / 'run' / 'nginx.pid'};"], {}
        return [_binary("prometheus"), f"--config.file={directory / 'prometheus' / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data' / 'prometheus'}",
                f"--web.listen-address={self.state.address(name, 'web')}", "--storage.tsdb.retention.time=7d"], {}


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise ClusterError(f"{name} is not installed (Debian: apt-get install {name})")
    return found


def _kill(pid: int, sig: int) -> None:
    import os

    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
