"""The `vomid` console script: server commands (`up`, `serve`) here, every other command in the SDK's CLI."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("up", "serve"):
        from vomid.__main__ import main as server_main

        return server_main(argv)
    from client.cli import main as client_main

    return client_main(argv)
