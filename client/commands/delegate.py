"""`vomid up`, `vomid backup`, `vomid restore`: thin hand-offs to the tools that own those jobs.

`up` runs `python main.py up ...` (the embedded stack) in the project folder; `backup`/`restore` call the store's
own command line (`python -m store`) in-process. Arguments pass through untouched, `--help` included.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAIN = PROJECT_ROOT / "main.py"


class DelegateMissing(RuntimeError):
    """The tool a subcommand hands off to is not installed here."""


def up(args: list[str]) -> int:
    if not MAIN.exists():
        raise DelegateMissing(f"`vomid up` needs {MAIN} (run it from a source checkout of Edge-VoMID)")
    # main.py resolves config/, model_repository/ and var/ relative to the project folder.
    return subprocess.call([sys.executable, str(MAIN), "up", *args], cwd=PROJECT_ROOT)


def store_command(command: str, args: list[str]) -> int:
    try:
        store_cli = importlib.import_module("store.cli")
    except ImportError as exc:
        raise DelegateMissing(f"`vomid {command}` needs the store's command line (store.cli): {exc}") from None
    return int(store_cli.main([command, *args]) or 0)
