"""The stored form of a user (profile + raw enrollments) and its sealed byte encoding.

One encoding serves the file log, snapshots, Redis values, stream events and backups.
Plaintext layout: 4-byte header length, JSON header, then float32 little-endian enrollments.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, replace

import numpy as np

from .crypto import Cipher
from .errors import CorruptData
from .models import User

_AAD = b"vomid-record-v1"
@dataclass(frozen=True)
class UserRecord:
    """Immutable: an update builds a new record, so a reader never sees a half-changed one."""

    user_id: str
    name: str
    metadata: dict
    created_at: float
    updated_at: float
    embeddings: np.ndarray  # (n, dim) float32, raw (not normalised)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def to_user(self) -> User:
        return User(self.user_id, self.name, dict(self.metadata), self.created_at, self.updated_at,
                    int(self.embeddings.shape[0]))

    def with_enrollment(self, embedding: np.ndarray, now: float) -> "UserRecord":
        return replace(self, embeddings=np.vstack([self.embeddings, embedding[None, :]]), updated_at=now)

    # --- encoding -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        head = json.dumps({"id": self.user_id, "name": self.name, "meta": self.metadata,
                           "c": self.created_at, "u": self.updated_at,
                           "n": int(self.embeddings.shape[0]), "d": self.dim}).encode()
        body = np.ascontiguousarray(self.embeddings, dtype="<f4").tobytes()
        return struct.pack("<I", len(head)) + head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> "UserRecord":
        try:
            (hlen,) = struct.unpack_from("<I", data)
            head = json.loads(data[4:4 + hlen])
            n, d = int(head["n"]), int(head["d"])
            emb = np.frombuffer(data, dtype="<f4", count=n * d, offset=4 + hlen)
            return cls(head["id"], head["name"], head["meta"], float(head["c"]), float(head["u"]),
                       emb.astype(np.float32).reshape(n, d))
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"undecodable user record: {exc}") from None

    def seal(self, cipher: Cipher) -> bytes:
        return cipher.encrypt(self.to_bytes(), _AAD)

    @classmethod
    def unseal(cls, blob: bytes, cipher: Cipher) -> "UserRecord":
        return cls.from_bytes(cipher.decrypt(blob, _AAD))


# --- change operations (file log, snapshots, backups) ---------------------------------------
# Plaintexts of frames; store.container seals each one bound to its place in its file.
def encode_put(record: UserRecord) -> bytes:
    return b"P" + record.to_bytes()


def encode_delete(user_id: str) -> bytes:
    return b"D" + user_id.encode()


def encode_end(count: int) -> bytes:
    """Closes a snapshot or backup: a copy cut short at a frame boundary is told from a complete one."""
    return b"E" + str(count).encode()


def encode_close(next_gen: int) -> bytes:
    """Closes a log that a newer one replaced: frames dropped from its end are noticed."""
    return b"C" + str(next_gen).encode()


def decode_op(data: bytes) -> tuple[str, "UserRecord | str | int"]:
    """("put", record), ("delete", user_id), ("end", count) or ("close", next_gen)."""
    tag, rest = data[:1], data[1:]
    try:
        if tag == b"P":
            return "put", UserRecord.from_bytes(rest)
        if tag == b"D":
            return "delete", rest.decode()
        if tag == b"E":
            return "end", int(rest)
        if tag == b"C":
            return "close", int(rest)
    except ValueError as exc:
        raise CorruptData(f"undecodable operation: {exc}") from None
    raise CorruptData("unknown operation in log")
