"""AES-256-GCM for data at rest: one primary key to write, older keys accepted to read.

Every blob starts with the 8-byte id of the key that sealed it, so a wrong key is reported as
such instead of as "corrupt data", and rotation can read old blobs while writing new ones.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import StorageConfig
from .errors import CorruptData, StoreConfigError

KEY_ENV = "VOIMID_ENCRYPTION_KEY"
_NONCE = 12
_KID = 8


def generate_key() -> str:
    """A fresh random 256-bit key, base64 encoded (what the key file / env var hold)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str, setting: str) -> bytes:
    """Accept base64 (standard or url-safe) or hex text for a 32-byte key."""
    text = text.strip()
    candidates = []
    if len(text) == 64:
        try:
            candidates.append(bytes.fromhex(text))
        except ValueError:
            pass
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            candidates.append(decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            pass
    for raw in candidates:
        if len(raw) == 32:
            return raw
    raise StoreConfigError(f"{setting}: not a 256-bit key (expected 32 bytes as base64 or 64 hex chars)")


def key_id(key: bytes) -> bytes:
    # An HMAC, not a hash of the key itself: the id may be stored in clear next to the data.
    return hmac.new(key, b"vomid-key-id", hashlib.sha256).digest()[:_KID]


class Cipher:
    """Seal/open byte strings; `aad` binds a blob to its place (e.g. the user id) so blobs can't be swapped."""

    def __init__(self, key: bytes, old_keys: list[bytes] | tuple = ()):
        self._primary = key_id(key)
        self._keys = {key_id(k): AESGCM(k) for k in (*old_keys, key)}

    @property
    def key_id(self) -> str:
        return self._primary.hex()

    @property
    def key_ids(self) -> list[str]:
        return [k.hex() for k in self._keys]

    def with_primary(self, other: "Cipher") -> "Cipher":
        """Writes with `other`'s key, reads with every key of both (key rotation)."""
        merged = Cipher.__new__(Cipher)
        merged._primary, merged._keys = other._primary, {**self._keys, **other._keys}
        return merged

    def knows(self, kid_hex: str) -> bool:
        return bytes.fromhex(kid_hex) in self._keys

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE)
        return self._primary + nonce + self._keys[self._primary].encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        kid, nonce, body = blob[:_KID], blob[_KID:_KID + _NONCE], blob[_KID + _NONCE:]
        aead = self._keys.get(kid)
        if aead is None:
            raise StoreConfigError(
                f"storage.encryption_key: data was sealed with key id {kid.hex()}, "
                f"configured key id is {self.key_id} (wrong key?)")
        try:
            return aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise CorruptData("encrypted blob failed authentication (tampered or misplaced)") from None

    def check_key_id(self, stored_kid_hex: str, where: str) -> None:
        """Start-up check: refuse to run on data sealed with a key we do not hold."""
        if not self.knows(stored_kid_hex):
            raise StoreConfigError(
                f"storage.encryption_key: {where} was encrypted with key id {stored_kid_hex}, "
                f"but the configured key has id {self.key_id}: wrong key")


def load_cipher(config: StorageConfig, required: bool = True) -> Cipher | None:
    """Key from config, then key file, then $VOIMID_ENCRYPTION_KEY; missing is an error if required."""
    if config.encryption_key:
        key = parse_key(config.encryption_key, "storage.encryption_key")
    elif config.encryption_key_file:
        path = Path(config.encryption_key_file)
        try:
            key = parse_key(path.read_text(), "storage.encryption_key_file")
        except OSError as exc:
            raise StoreConfigError(f"storage.encryption_key_file: cannot read {path}: {exc.strerror}") from None
    elif os.environ.get(KEY_ENV):
        key = parse_key(os.environ[KEY_ENV], KEY_ENV)
    elif required:
        raise StoreConfigError(
            f"storage.encryption_key: the {config.type} backend encrypts at rest and needs a key: set "
            f"storage.encryption_key, storage.encryption_key_file or ${KEY_ENV} "
            "(make one with `python -m store gen-key`)")
    else:
        return None
    old = [parse_key(k, "storage.encryption_old_keys") for k in config.encryption_old_keys]
    return Cipher(key, old)
