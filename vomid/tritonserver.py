"""Runs a real `tritonserver` process: the CPU build bundled in the nvidia-pytriton wheel, or one on PATH (NGC).

Picks free ports, prepares the python backend for this interpreter, waits for /v2/health/ready, forwards the
server's log lines to `logging`, and shuts down cleanly. Several instances may run side by side. However the server
ends (stop, kill, or a crash nobody asked for), its python-backend stubs and shared-memory segments go with it
(vomid/triton_cleanup.py).
"""
from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import settings.env
from vomid import triton_cleanup

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the folder holding engine/, whose modules the stubs import


class TritonStartError(RuntimeError):
    """tritonserver could not be found, did not start, or did not become ready."""


@dataclass(frozen=True)
class TritonDistribution:
    binary: Path
    backends: Path  # directory holding python/ (and onnxruntime/, tensorrt/ on NGC images)
    library_dirs: tuple[Path, ...] = ()
    python_stub: Path | None = None  # the wheel ships one stub per Python version; NGC has one in backends/python


def find_distribution() -> TritonDistribution:
    """VOIMID_TRITONSERVER (a binary), then `tritonserver` on PATH, then the nvidia-pytriton wheel."""
    explicit = settings.env.variable("TRITONSERVER")
    on_path = explicit or shutil.which("tritonserver")
    if on_path:
        binary = Path(on_path).resolve()
        return TritonDistribution(binary=binary, backends=binary.parent.parent / "backends")
    try:
        import pytriton  # noqa: F401  (the wheel's top-level package)
    except ImportError:
        raise TritonStartError("no tritonserver: install nvidia-pytriton (pip) or put tritonserver on PATH") from None
    root = Path(sys.modules["pytriton"].__file__).parent / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise TritonStartError(f"nvidia-pytriton has no python backend stub for Python {version}")
    libs = root.parent.parent / "nvidia_pytriton.libs"
    return TritonDistribution(binary=root / "bin" / "tritonserver", backends=root / "backends",
                              library_dirs=(libs,), python_stub=stub)


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGKILL when the parent thread dies (prctl)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TritonServer:
    model_repository: Path
    http_port: int = 0
    grpc_port: int = 0
    metrics_port: int = 0
    name: str = "triton"
    log_verbose: int = 0
    extra_args: list[str] = field(default_factory=list)
    distribution: TritonDistribution | None = None
    # SIGKILL the server when the thread that started it dies (a launcher process that is itself killed).
    die_with_parent: bool = False
    # Models loaded only when first used (explicit model control): name what must be ready before the server counts
    # as ready, and do not let the server's readiness drop while another model loads (strict readiness would).
    load_on_demand_except: str | None = None

    def __post_init__(self):
        self.model_repository = Path(self.model_repository).resolve()
        self._process: subprocess.Popen | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None
        self._recent_lines: deque[str] = deque(maxlen=60)
        self._reap_lock = threading.Lock()

    @property
    def shm_prefix(self) -> str:
        """This server's shared-memory region prefix: the launcher's pid and the gRPC port make it unique."""
        return triton_cleanup.region_prefix(self.grpc_port)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 180.0) -> "TritonServer":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "TritonServer":
        """Starts the server process and returns at once: the caller may do other start-up work while Triton loads
        its models, then wait_ready()."""
        dist = self.distribution or find_distribution()
        self.http_port = self.http_port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        self.metrics_port = self.metrics_port or free_port()
        triton_cleanup.remove_stale()
        triton_cleanup.reap(self.shm_prefix)  # a previous run of this very server (restart after a crash)
        self._workdir = tempfile.TemporaryDirectory(prefix=f"vomid-{self.name}-")
        backends = self._prepare_backends(dist, Path(self._workdir.name))
        command = [
            str(dist.binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--http-port={self.http_port}", f"--grpc-port={self.grpc_port}", f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true", "--allow-gpu-metrics=false", "--pinned-memory-pool-byte-size=0",
            *self._model_control(), "--exit-timeout-secs=10", f"--log-verbose={self.log_verbose}",
            # Each server needs its own shared-memory namespace for its python stubs.
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--backend-config=python,shm-default-byte-size=16777216",
            "--backend-config=python,shm-growth-byte-size=16777216",
            *self.extra_args,
        ]
        log.info("starting %s: %s", self.name, " ".join(command))
        self._process = subprocess.Popen(command, env=self._environment(dist), stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, errors="replace",
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent if self.die_with_parent else None)
        threading.Thread(target=self._forward_logs, name=f"{self.name}-log", daemon=True).start()
        threading.Thread(target=self._watch, args=(self._process,), name=f"{self.name}-watch", daemon=True).start()
        return self

    def wait_ready(self, timeout: float = 180.0) -> "TritonServer":
        """Blocks until the launched server is ready; stops it and raises TritonStartError when it is not."""
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("%s ready: http %s grpc %s metrics %s", self.name, self.http_url, self.grpc_url, self.metrics_url)
        return self

    def is_ready(self) -> bool:
        model = self.load_on_demand_except
        paths = ["/v2/health/ready"] + ([f"/v2/models/{model}/ready"] if model else [])
        try:
            for path in paths:
                with urllib.request.urlopen(f"http://{self.http_url}{path}", timeout=2) as response:
                    if response.status != 200:
                        return False
            return True
        except (urllib.error.URLError, OSError):
            return False

    def _model_control(self) -> list[str]:
        if self.load_on_demand_except is None:
            return ["--strict-readiness=true"]
        return ["--model-control-mode=explicit", f"--load-model={self.load_on_demand_except}",
                "--strict-readiness=false"]

    def inference_counts(self, settle_s: float = 0.2, timeout_s: float = 5.0) -> dict[str, tuple[float, float]]:
        """Per model: (nv_inference_count, nv_inference_exec_count) from the metrics endpoint.

        Their ratio is the average batch size the dynamic batcher achieved. Triton counts a request shortly after
        answering it, so the endpoint is read until two reads `settle_s` apart agree (or `timeout_s` passes).
        """
        deadline = time.monotonic() + timeout_s
        counts = self._read_counts()
        while True:
            time.sleep(settle_s)
            again = self._read_counts()
            if again == counts or time.monotonic() > deadline:
                return again
            counts = again

    def _read_counts(self) -> dict[str, tuple[float, float]]:
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            text = response.read().decode()
        counts: dict[str, list[float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name = sample.name.removesuffix("_total")  # the parser may append it to counters
                if name in ("nv_inference_count", "nv_inference_exec_count"):
                    counts.setdefault(sample.labels["model"], [0.0, 0.0])[name == "nv_inference_exec_count"] = \
                        sample.value
        return {model: (c[0], c[1]) for model, c in counts.items()}

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Triton drains in-flight requests), then SIGKILL the process group after `timeout`."""
        if self._process and self._process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs, killing it", self.name, timeout)
                self._signal(signal.SIGKILL)
                self._process.wait()
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL, as a crash would (used by failover tests)."""
        if self._process and self._process.poll() is None:
            self._signal(signal.SIGKILL)
            self._process.wait()
        self._cleanup()

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self._process.pid, sig)  # the python stubs are children of the server
        except ProcessLookupError:
            pass

    def _cleanup(self) -> None:
        self._reap()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def _watch(self, process: subprocess.Popen) -> None:
        """Reaps after a death nobody asked for (SIGKILL from outside, OOM killer): stubs and segments go too."""
        process.wait()
        if process is self._process:
            self._reap()

    def _reap(self) -> None:
        with self._reap_lock:
            if self._process is None or self._process.poll() is None:
                return
            self._signal(signal.SIGKILL)  # stubs share the server's process group, even after it died
            triton_cleanup.reap(self.shm_prefix)

    def _prepare_backends(self, dist: TritonDistribution, workdir: Path) -> Path:
        if dist.python_stub is None:
            return dist.backends
        backends = workdir / "backends"
        shutil.copytree(dist.backends, backends, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(dist.python_stub, backends / "python" / "triton_python_backend_stub")
        return backends

    def _environment(self, dist: TritonDistribution) -> dict[str, str]:
        env = dict(os.environ)
        # The stub links libpython: use the one of this interpreter, then the wheel's own libraries.
        lib_dirs = [sysconfig.get_config_var("LIBDIR") or "", *map(str, dist.library_dirs)]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in [*lib_dirs, env.get("LD_LIBRARY_PATH", "")] if p)
        import site

        paths = [str(PROJECT_ROOT), *site.getsitepackages(), settings.env.variable("PYTHONPATH", env) or ""]
        # Repositories exported before the VOIMID_ spelling read VOMID_PYTHONPATH in their model.py shims.
        env["VOIMID_PYTHONPATH"] = env["VOMID_PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env.setdefault("OMP_NUM_THREADS", "1")  # onnxruntime sizes its own pools; avoid oversubscription
        return env

    def _forward_logs(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        server_log = logging.getLogger(f"tritonserver.{self.name}")
        for line in self._process.stdout:
            line = line.rstrip()
            self._recent_lines.append(line)
            level = logging.WARNING if line[:1] in ("E", "W") else logging.DEBUG
            server_log.log(level, "%s", line)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise TritonStartError(f"{self.name} exited with code {self._process.returncode}:\n"
                                       + "\n".join(self._recent_lines))
            if self.is_ready():
                return
            time.sleep(delay)  # polling readiness, not waiting blindly
            delay = min(delay * 2, 0.1)  # a local HTTP probe is cheap; a coarser poll adds to every cold start
        raise TritonStartError(f"{self.name} not ready after {timeout:.0f}s:\n" + "\n".join(self._recent_lines))
