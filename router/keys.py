"""`python -m router.keys new --scope admin [--id NAME] [--file F]`: makes an API key and its key-file line.

The key is printed once; only its hash line belongs in the key file (appended to --file when given).
"""
from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from router.auth import SCOPES, key_line, new_key


def append_key(path: Path, scopes: list[str], key_id: str | None = None) -> tuple[str, str]:
    """Creates a key, appends its hash line to `path` (mode 0600), returns (key, line)."""
    key = new_key()
    line = key_line(key_id or f"key-{secrets.token_hex(4)}", scopes, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(line + "\n")
    path.chmod(0o600)
    return key, line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router.keys", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="create a key")
    new.add_argument("--scope", action="append", choices=SCOPES, required=True, help="repeatable")
    new.add_argument("--id", help="key id shown in logs (default: random)")
    new.add_argument("--file", type=Path, help="append the hash line to this key file")
    args = parser.parse_args(argv)
    if args.file:
        key, line = append_key(args.file, args.scope, args.id)
        print(f"appended to {args.file}: {line}", file=sys.stderr)
    else:
        key = new_key()
        line = key_line(args.id or f"key-{secrets.token_hex(4)}", args.scope, key)
        print(f"key file line: {line}", file=sys.stderr)
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
