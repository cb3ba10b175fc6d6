"""Cleans up after a tritonserver: its python-backend stub processes and its /dev/shm segments.

The python backend names every shared-memory region `<shm-region-prefix-name><uuid>` and starts one stub process
per model instance with that region on its command line. When the server dies by SIGKILL (a crash, the OOM killer,
a chaos test), nothing removes the 16 MB segments, and the stubs go on holding their models' memory. The launcher
gives each server a prefix naming the launcher's pid (`vomid-<pid>-<grpc port>-`), so that

- after its own server exits, it reaps the stubs and removes the segments of its prefix (`reap`), and
- at start, it removes what earlier launchers left behind: stubs and segments whose owner pid is gone (`remove_stale`).

Segments of a live owner are never touched: several test sessions and clusters share one machine.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

SHM_DIR = Path("/dev/shm")
PROC = Path("/proc")
STUB_NAME = "triton_python_backend_stub"
# vomid-<launcher pid>-<grpc port>-<uuid>; the older launcher wrote vomid<pid>p<port><uuid>.
_OWNER = re.compile(r"^vomid-(\d+)-\d+-|^vomid(\d+)p\d+")


def region_prefix(grpc_port: int, owner: int | None = None) -> str:
    return f"vomid-{owner or os.getpid()}-{grpc_port}-"


def owner_pid(region: str) -> int | None:
    match = _OWNER.match(region)
    return int(match.group(1) or match.group(2)) if match else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) not in ("Z", "X", None)  # a zombie holds nothing: its parent just has not reaped it yet


def stub_processes() -> dict[int, str]:
    """pid -> shared-memory region of every python-backend stub on this machine (argv[2] of the stub)."""
    stubs = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 2 and argv[0].endswith(STUB_NAME.encode()) and _state(int(entry.name)) not in ("Z", None):
            stubs[int(entry.name)] = argv[2].decode(errors="replace")
    return stubs


def segments() -> list[str]:
    try:
        return sorted(name for name in os.listdir(SHM_DIR) if _OWNER.match(name))
    except FileNotFoundError:
        return []


def reap(prefix: str, timeout: float = 10.0) -> tuple[int, int]:
    """Kills the stubs and removes the segments of one prefix; returns (stubs killed, segments removed)."""
    stubs = [pid for pid, region in stub_processes().items() if region.startswith(prefix)]
    _kill_all(stubs, timeout)
    removed = _unlink([name for name in segments() if name.startswith(prefix)])
    if stubs or removed:
        log.info("reaped %d python-backend stub(s) and %d shm segment(s) of %s", len(stubs), removed, prefix)
    return len(stubs), removed


def remove_stale(timeout: float = 10.0) -> tuple[int, int]:
    """Kills stubs and removes segments whose owning launcher is gone; returns (stubs killed, segments removed)."""
    owners: dict[int, bool] = {}

    def stale(region: str) -> bool:
        owner = owner_pid(region)
        if owner is None:
            return False
        if owner not in owners:
            owners[owner] = pid_alive(owner)
        return not owners[owner]

    stubs = [pid for pid, region in stub_processes().items() if stale(region)]
    _kill_all(stubs, timeout)
    removed = _unlink([name for name in segments() if stale(name)])
    if stubs or removed:
        log.warning("removed %d orphaned python-backend stub(s) and %d stale shm segment(s) of dead launchers",
                    len(stubs), removed)
    return len(stubs), removed


def _kill_all(pids: list[int], timeout: float) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is asynchronous: poll until the kernel has torn them down


def _unlink(names: list[str]) -> int:
    removed = 0
    for name in names:
        try:
            (SHM_DIR / name).unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _state(pid: int) -> str | None:
    """The process state letter from /proc/PID/stat (R, S, Z, ...), None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]
