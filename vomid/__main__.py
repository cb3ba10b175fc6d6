"""`python -m vomid up|serve ...` (also the `vomid up` / `vomid serve` commands).

`up` runs the embedded stack (vomid.up); `serve --config FILE` runs the router alone (`python -m router`).
Configuration and export failures the operator can fix exit 2 with one line, never a traceback.
"""
from __future__ import annotations

import argparse
import sys

from tools.export.errors import ExportError  # torch-free
from vomid import up

SERVER_COMMANDS = ("up", "serve")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vomid", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    up.add_arguments(sub.add_parser("up", help="export if needed, start tritonserver and the router"))
    serve = sub.add_parser("serve", help="the router alone (Triton and Redis run elsewhere)")
    serve.add_argument("--config", default=None, help="YAML/JSON config")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        from router.__main__ import main as serve_main

        return serve_main([] if args.config is None else ["--config", args.config])
    try:
        return up.run(args)
    except ExportError as exc:  # e.g. no weights: the message lists every way to supply them
        print(f"model export failed: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if isinstance(exc, configuration_errors()):
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
        raise


def configuration_errors() -> tuple[type[Exception], ...]:
    """Imported only when needed: the router and store packages take ~0.5 s to import, which `up` spends while
    Triton loads its models instead of before starting it."""
    from router.errors import ConfigError
    from store.errors import StoreConfigError

    return ConfigError, StoreConfigError


if __name__ == "__main__":
    sys.exit(main())
