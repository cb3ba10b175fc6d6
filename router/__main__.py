"""`python -m router --config FILE`: the router alone (Triton and Redis run elsewhere).

The router image's entry point: it needs only the base install (no torch, onnx or export code).
A bad setting exits 2 with a message naming the key.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from router.app import serve
from router.config import load_config
from router.errors import ConfigError
from router.logs import setup_logging
from store.errors import StoreConfigError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m router", description=__doc__.splitlines()[0])
    top.add_argument("--config", type=Path, default=None,
                     help="YAML/JSON config (default: built-in defaults and VOIMID_* variables only)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args.config)
        setup_logging(config.logging.level, config.logging.json,
                      config.audit.path if config.audit.enabled else None, config.audit.retention_days)
        serve(config)
    except (ConfigError, StoreConfigError) as exc:  # also at start-up: a wrong encryption key, bad credentials
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
