"""Service processes: started detached (own session, log file), found again by pid, stopped by process group.

A service outlives the command that started it (`scripts/deploy.sh deploy --local` returns), so everything here
works from a pid alone; a Popen kept by the same Python process is used to reap it when there is one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from vomid.triton_cleanup import pid_alive

_children: dict[int, subprocess.Popen] = {}  # pid -> Popen of the processes this interpreter started


def start(command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    _children[process.pid] = process
    return process.pid


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None and child.poll() is not None:  # reaps our own zombies
        return False
    return pid_alive(pid)


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the service is its session's leader: its workers share the group
    except (ProcessLookupError, PermissionError):
        pass


def stop(pid: int | None, timeout: float = 30.0) -> None:
    """SIGTERM the group, SIGKILL it after `timeout`; returns once the leader is gone."""
    if not alive(pid):
        return
    signal_group(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        signal_group(pid, signal.SIGKILL)
        wait_gone(pid, 10.0)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling the process table, not waiting blindly
    return True


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def executable(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""
