"""The local cluster's secrets, made once by the project's own tools, in DIR/secrets (mode 0700).

The same files compose mounts under /run/secrets (compose/init-secrets.sh makes those): api_keys (hash lines),
encryption_key, redis_password, tls_cert/tls_key; plus admin_key, the plain admin API key, which compose prints
once instead of keeping (a local cluster is a development tool: its key is kept for the operator and the tests).
"""
from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from cluster.spec import REPO
from router.keys import append_key
from store.crypto import generate_key

MAKE_CERT = REPO / "compose" / "make-tls-cert.sh"


def ensure(directory: Path) -> Path:
    """Makes the missing secrets; returns the directory. Existing files are kept (the store's key above all)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    if not (directory / "api_keys").exists():
        key, _ = append_key(directory / "api_keys", ["admin"], "admin")
        _write(directory / "admin_key", key)
    for name, make in (("encryption_key", generate_key), ("redis_password", lambda: secrets.token_hex(32))):
        if not (directory / name).exists():
            _write(directory / name, make())
    subprocess.run(["sh", str(MAKE_CERT), str(directory), "localhost"], check=True, capture_output=True)
    return directory


def admin_key(directory: Path) -> str:
    return (directory / "admin_key").read_text().strip()


def redis_password(directory: Path) -> str:
    return (directory / "redis_password").read_text().strip()


def add_keys(directory: Path, count: int, scope: str = "admin", prefix: str = "load") -> list[str]:
    """Extra API keys (each has its own rate-limit budget), appended to api_keys; routers read them at start."""
    return [append_key(directory / "api_keys", [scope], f"{prefix}-{i}")[0] for i in range(count)]


def _write(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text + "\n")
