"""Runs a module as `python -m` would, with some top-level packages made unimportable.

`python tests/vomid/blocked_imports.py torch,onnx -- router --config F` is `python -m router --config F` on a host
where torch and onnx are not installed: how an image that does not install them runs its entry point.
"""
from __future__ import annotations

import importlib.abc
import runpy
import sys


class Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, blocked: set[str]):
        self.blocked = blocked

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named '{fullname}' (blocked: not installed in this image)",
                                      name=fullname)
        return None


def main() -> None:
    blocked, separator, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    assert separator == "--" and rest, "usage: blocked_imports.py PKG[,PKG] -- MODULE [ARGS...]"
    sys.meta_path.insert(0, Blocker({name for name in blocked.split(",") if name}))
    sys.argv = [rest[0], *rest[1:]]
    sys.path.insert(0, "")  # as `python -m` does: the working directory first
    runpy.run_module(rest[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
