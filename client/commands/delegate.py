"""`vomid up`, `vomid backup`, `vomid restore`: thin hand-offs to the server-side tools that own those jobs.

They are imported by name only when asked for, so the SDK installs and runs without them. Arguments pass through
untouched, `--help` included.
"""
from __future__ import annotations

import importlib


class DelegateMissing(RuntimeError):
    """The tool a subcommand hands off to is not installed here."""


def _entry(module: str, command: str):
    try:
        return importlib.import_module(module).main
    except ImportError as exc:
        raise DelegateMissing(f"`vomid {command}` needs the server install ({module}): {exc}") from None


def _run(main, argv: list[str]) -> int:
    try:
        return int(main(argv) or 0)
    except SystemExit as done:  # argparse's --help and usage errors
        return done.code if isinstance(done.code, int) else 2


def up(args: list[str]) -> int:
    return _run(_entry("vomid.__main__", "up"), ["up", *args])


def store_command(command: str, args: list[str]) -> int:
    return _run(_entry("store.cli", command), [command, *args])
