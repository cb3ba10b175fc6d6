"""API keys: loaded from the key file, the config or the environment, kept only as SHA-256 hashes.

A key file line is `<key_id> <scope>[,<scope>] sha256:<hex>` (`#` starts a comment); `python -m router.keys new`
prints one. Keys are 256-bit random secrets, so a fast hash is enough: there is nothing to brute-force.
Every stored hash is compared with `hmac.compare_digest`, without an early exit, so timing reveals nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from router.config import AuthConfig
from router.errors import ConfigError, Forbidden, Unauthorized

log = logging.getLogger(__name__)

SCOPES = ("admin", "verify", "identify", "label")
# admin may do everything; identify (who is this, among everyone?) includes verify's 1:N, not the other way round.
# label (who spoke when in a recording) names enrolled speakers found in the caller's own recordings only.
IMPLIED = {"admin": {"admin", "verify", "identify", "label"}, "verify": {"verify"},
           "identify": {"identify", "verify"}, "label": {"label"}}
KEY_PREFIX = "vmd_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    scopes: frozenset[str]
    digest: bytes

    def allows(self, scope: str) -> bool:
        return any(scope in IMPLIED[s] for s in self.scopes)


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_line(key_id: str, scopes: list[str], key: str) -> str:
    return f"{key_id} {','.join(scopes)} {hash_key(key)}"


def parse_line(line: str, where: str) -> ApiKey | None:
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("sha256:"):
        raise ConfigError(f"{where}: expected '<key_id> <scopes> sha256:<hex>'")
    key_id, scopes, digest = parts
    scope_set = frozenset(s for s in scopes.split(",") if s)
    bad = scope_set - set(SCOPES)
    if bad or not scope_set:
        raise ConfigError(f"{where}: unknown scope {sorted(bad)[0] if bad else '(none)'}; use {', '.join(SCOPES)}")
    try:
        raw = bytes.fromhex(digest.removeprefix("sha256:"))
    except ValueError:
        raise ConfigError(f"{where}: the hash is not hex") from None
    if len(raw) != 32:
        raise ConfigError(f"{where}: a sha256 hash has 64 hex digits")
    return ApiKey(key_id, scope_set, raw)


class KeyRing:
    """The configured keys; `authenticate` maps a presented secret to its ApiKey or raises 401."""

    def __init__(self, keys: list[ApiKey]):
        self.keys = keys

    @classmethod
    def from_config(cls, config: AuthConfig) -> "KeyRing":
        keys: list[ApiKey] = []
        if config.keys_file:
            path = Path(config.keys_file)
            try:
                lines = path.read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"auth.keys_file: cannot read {path}: {exc.strerror}") from None
            keys += [k for n, line in enumerate(lines, 1) if (k := parse_line(line, f"auth.keys_file:{n}"))]
        keys += [k for n, line in enumerate(config.keys) if (k := parse_line(line, f"auth.keys[{n}]"))]
        for n, item in enumerate(config.env_keys):
            scopes, sep, key = item.partition(":")
            if not sep or not key:
                raise ConfigError(f"auth.env_keys[{n}]: expected '<scope>[|scope]:<key>' (VOIMID_API_KEYS)")
            keys.append(parse_line(key_line(f"env{n}", scopes.split("|"), key), f"auth.env_keys[{n}]"))
        if config.enabled and not keys:
            raise ConfigError("auth.keys_file: auth is enabled but the key file holds no keys")
        return cls(keys)

    def authenticate(self, presented: str | None) -> ApiKey:
        if not presented:
            raise Unauthorized("missing API key (X-API-Key header or Authorization: Bearer)", code="missing_api_key")
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        found = None
        for key in self.keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(key.digest, digest):
                found = key
        if found is None:
            raise Unauthorized("unknown API key", code="invalid_api_key")
        return found


def require(key: ApiKey | None, scope: str) -> None:
    """403 when an authenticated key lacks `scope`; None means auth is disabled."""
    if key is not None and not key.allows(scope):
        raise Forbidden(f"this API key lacks the '{scope}' scope", code="insufficient_scope")


def presented_key(headers) -> str | None:
    if key := headers.get("X-API-Key"):
        return key.strip()
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
