"""Per-user data keys (envelope encryption, for crypto-shredding and cheap key rotation).

Each user's record is sealed under its own random AES-256 key; that key is stored only wrapped (sealed)
by the main key. Deleting a user destroys its wrapped key, which makes every other copy of the record
sealed under it (a backup, an old Redis AOF/RDB file) unreadable even to someone holding the main key.
Rotating the main key re-wraps these small keys instead of re-sealing every record, and a user's wrapped
key may carry several wraps (one per main key) while a rotation is under way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .crypto import Cipher
from .errors import CorruptData, StoreConfigError

_ID, _KEY, _NONCE = 16, 32, 12
WRAP_LEN = 8 + _NONCE + _ID + _KEY + 16   # main key id, nonce, sealed (id + key), tag


@dataclass(frozen=True)
class DataKey:
    key_id: bytes
    key: bytes

    @classmethod
    def new(cls) -> "DataKey":
        return cls(os.urandom(_ID), os.urandom(_KEY))

    def __repr__(self) -> str:   # never print key material
        return f"DataKey({self.key_id.hex()})"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return self.key_id + nonce + AESGCM(self.key).encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if blob[:_ID] != self.key_id:
            raise CorruptData("record is sealed under another data key (replaced or replayed)")
        try:
            return AESGCM(self.key).decrypt(blob[_ID:_ID + _NONCE], blob[_ID + _NONCE:], aad)
        except InvalidTag:
            raise CorruptData("record failed authentication (tampered, replayed or misplaced)") from None

    def to_bytes(self) -> bytes:
        """Raw key material: only ever written inside something sealed by the main key."""
        return self.key_id + self.key

    @classmethod
    def from_bytes(cls, data: bytes) -> "DataKey":
        if len(data) != _ID + _KEY:
            raise CorruptData("data key has the wrong length")
        return cls(data[:_ID], data[_ID:])


def key_id_of(blob: bytes) -> bytes:
    """Which data key sealed a record blob (stored in clear in front of it)."""
    return blob[:_ID]


def _wrap_aad(user_id: str) -> bytes:
    return b"vomid-data-key-v1|" + user_id.encode()


def wrap(dk: DataKey, cipher: Cipher, user_id: str) -> bytes:
    """One wrap under the cipher's primary key, bound to the user."""
    return cipher.encrypt(dk.to_bytes(), _wrap_aad(user_id))


def wraps_of(blob: bytes) -> list[bytes]:
    if not blob or len(blob) % WRAP_LEN:
        raise CorruptData("wrapped data key has a wrong length")
    return [blob[i:i + WRAP_LEN] for i in range(0, len(blob), WRAP_LEN)]


def wrap_key_ids(blob: bytes) -> list[str]:
    """Main key ids (hex) the data key is wrapped under."""
    return [w[:8].hex() for w in wraps_of(blob)]


def unwrap(blob: bytes, cipher: Cipher, user_id: str) -> DataKey:
    """The data key from the first wrap under a key the cipher holds (primary first)."""
    wraps = sorted(wraps_of(blob), key=lambda w: w[:8].hex() != cipher.key_id)
    for w in wraps:
        if cipher.knows(w[:8].hex()):
            return DataKey.from_bytes(cipher.decrypt(w, _wrap_aad(user_id)))
    raise StoreConfigError(f"storage.encryption_key: the data key of user {user_id} is wrapped under key ids "
                           f"{', '.join(wrap_key_ids(blob))}; none of them is configured")
