"""Clean crashes: a SIGKILLed tritonserver (or launcher) leaves no python-backend stub and no /dev/shm segment."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from vomid import triton_cleanup
from vomid.tritonserver import TritonServer, free_port

DEADLINE_S = 60.0  # a generous bound for the kernel and the watcher thread; polled, never slept


def leftovers(prefix: str) -> tuple[list[int], list[str]]:
    stubs = [pid for pid, region in triton_cleanup.stub_processes().items() if region.startswith(prefix)]
    return stubs, [name for name in triton_cleanup.segments() if name.startswith(prefix)]


def wait_clean(prefix: str) -> tuple[list[int], list[str]]:
    deadline = time.monotonic() + DEADLINE_S
    while (found := leftovers(prefix)) != ([], []) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_kill_and_restart_in_a_loop_leaves_nothing(model_repository):
    server = TritonServer(model_repository, name="crashy", grpc_port=free_port())
    try:
        for _ in range(3):
            server.start()
            stubs, segments = leftovers(server.shm_prefix)
            assert stubs and segments, "the server runs python-backend stubs over shared memory"
            os.kill(server.pid, signal.SIGKILL)  # the server only, as a crash would: the launcher is not told
            assert wait_clean(server.shm_prefix) == ([], []), "stubs or segments survived the server"
            assert not server.is_running()
    finally:
        server.stop()
    assert leftovers(server.shm_prefix) == ([], [])


def test_a_killed_launcher_is_cleaned_up_by_the_next_start(model_repository, tmp_path):
    grpc, http = free_port(), free_port()
    launcher = subprocess.Popen([sys.executable, "-m", "vomid.launch_triton", "--model-repository",
                                 str(model_repository), "--grpc-port", str(grpc), "--http-port", str(http),
                                 "--name", "orphaned"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prefix = triton_cleanup.region_prefix(grpc, owner=launcher.pid)
    try:
        deadline = time.monotonic() + 180
        while not leftovers(prefix)[0] or not ready(http):
            assert launcher.poll() is None and time.monotonic() < deadline, "the launcher did not start Triton"
            time.sleep(0.2)
    finally:
        launcher.kill()  # SIGKILL: the launcher cannot clean up; its server dies with it (PDEATHSIG)
        launcher.wait()
    assert leftovers(prefix)[1], "a SIGKILLed launcher leaves its segments (what the next start must clean)"
    other = TritonServer(model_repository, name="next").start()  # start() removes leftovers of dead launchers
    try:
        assert wait_clean(prefix) == ([], [])
        assert leftovers(other.shm_prefix)[0], "the new server's own stubs are untouched"
    finally:
        other.stop()


def test_segments_of_a_live_owner_are_kept(tmp_path):
    name = f"{triton_cleanup.region_prefix(1, owner=os.getpid())}test-live"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = f"{triton_cleanup.region_prefix(1, owner=int(dead.stdout))}test-stale"
    for segment in (name, stale):
        (triton_cleanup.SHM_DIR / segment).write_bytes(b"x")
    try:
        triton_cleanup.remove_stale()
        assert (triton_cleanup.SHM_DIR / name).exists()
        assert not (triton_cleanup.SHM_DIR / stale).exists()
    finally:
        for segment in (name, stale):
            (triton_cleanup.SHM_DIR / segment).unlink(missing_ok=True)


def ready(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
