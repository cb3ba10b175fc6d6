"""Fault injection for the crash tests: `STORE_FAULT_INJECT=<point>:<enospc|kill>` fails that step.

A full disk or a crash at one exact step of a multi-step operation cannot be produced on demand from
outside; the tests set this variable for a child process. Unset (always, in production) a point is one
dictionary lookup.
"""
from __future__ import annotations

import errno
import os
import signal

ENV = "STORE_FAULT_INJECT"


def point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, action = spec.partition(":")
    if target != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise OSError(errno.ENOSPC, f"No space left on device (injected at {name})")
