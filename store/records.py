"""The stored form of a user (profile + raw enrollments + its data key) and its byte encodings.

Record plaintext: 4-byte header length, JSON header, then float32 little-endian enrollments. A record
sealed on its own (Redis, PostgreSQL, backups) is sealed under the user's data key (store.datakeys) with
its user id and version as associated data, so it cannot be moved to another user or replayed over a
newer version. The operations below are the plaintexts of file-log, snapshot and backup frames.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace

import numpy as np

from .datakeys import DataKey
from .errors import CorruptData, ModelMismatch
from .models import User


@dataclass(frozen=True)
class UserRecord:
    """Immutable: an update builds a new record, so a reader never sees a half-changed one."""

    user_id: str
    name: str
    metadata: dict
    created_at: float
    updated_at: float
    embeddings: np.ndarray  # (n, dim) float32, raw (not normalised)
    data_key: DataKey | None = field(default=None, repr=False, compare=False)
    last_used: float | None = field(default=None, compare=False)   # retention: enrolment or verification
    model_id: str | None = None   # the model that made the embeddings (engine.contract.model_id)

    @property
    def last_use(self) -> float:
        return self.last_used if self.last_used is not None else self.updated_at

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def to_user(self) -> User:
        return User(self.user_id, self.name, dict(self.metadata), self.created_at, self.updated_at,
                    int(self.embeddings.shape[0]), self.model_id)

    def check_model(self, model_id: str | None) -> None:
        """Refuse embeddings of another model than this voiceprint's (unknown on either side: no check)."""
        if model_id and self.model_id and model_id != self.model_id:
            raise ModelMismatch(self.user_id, self.model_id, model_id)

    def with_enrollment(self, embedding: np.ndarray, now: float, model_id: str | None = None) -> "UserRecord":
        self.check_model(model_id)
        return replace(self, embeddings=np.vstack([self.embeddings, embedding[None, :]]), updated_at=now,
                       last_used=now, model_id=self.model_id or model_id)

    # --- encoding -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        head = json.dumps({"id": self.user_id, "name": self.name, "meta": self.metadata,
                           "c": self.created_at, "u": self.updated_at, "lu": self.last_used, "mid": self.model_id,
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
                       emb.astype(np.float32).reshape(n, d), last_used=head.get("lu"), model_id=head.get("mid"))
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise CorruptData(f"undecodable user record: {exc}") from None

    def with_key(self, data_key: DataKey | None = None) -> "UserRecord":
        """This record with a data key (a fresh one unless given)."""
        return replace(self, data_key=data_key or DataKey.new())

    def seal(self, version: int) -> bytes:
        """Sealed under the user's data key, bound to (user id, version)."""
        return self.data_key.seal(self.to_bytes(), record_aad(self.user_id, version))

    @classmethod
    def unseal(cls, blob: bytes, user_id: str, version: int, data_key: DataKey) -> "UserRecord":
        record = cls.from_bytes(data_key.open(blob, record_aad(user_id, version)))
        if record.user_id != user_id:
            raise CorruptData(f"record of user {user_id} holds another user's data")
        return replace(record, data_key=data_key)


def record_aad(user_id: str, version: int) -> bytes:
    return f"vomid-record-v2|{user_id}|{version}".encode()


# --- change operations (file log, snapshots, backups) ---------------------------------------
# Plaintexts of frames; store.container seals each one bound to its place in its file.
def encode_put(record: UserRecord) -> bytes:
    """A user with its data key (inside a frame sealed by the main key)."""
    return b"K" + record.data_key.to_bytes() + record.to_bytes()


def encode_backup_entry(record: UserRecord) -> bytes:
    """A user for a backup: sealed under its data key, which the backup does not hold (crypto-shredding)."""
    uid = record.user_id.encode()
    return b"B" + struct.pack("<H", len(uid)) + uid + record.seal(0)


def encode_touch(user_id: str, when: float) -> bytes:
    """A user's last use (retention), without rewriting the record."""
    return b"T" + f"{when!r}|{user_id}".encode()


def encode_delete(user_id: str) -> bytes:
    return b"D" + user_id.encode()


def encode_end(count: int) -> bytes:
    """Closes a snapshot or backup: a copy cut short at a frame boundary is told from a complete one."""
    return b"E" + str(count).encode()


def encode_close(next_gen: int) -> bytes:
    """Closes a log that a newer one replaced: frames dropped from its end are noticed."""
    return b"C" + str(next_gen).encode()


def decode_op(data: bytes) -> tuple[str, object]:
    """("put", record), ("entry", (user_id, sealed)), ("delete", user_id), ("touch", (user_id, when)),
    ("end", n) or ("close", gen).

    "P" is a version 1 put without a data key (the store gives it one).
    """
    tag, rest = data[:1], data[1:]
    try:
        if tag == b"K":
            return "put", UserRecord.from_bytes(rest[48:]).with_key(DataKey.from_bytes(rest[:48]))
        if tag == b"P":
            return "put", UserRecord.from_bytes(rest)
        if tag == b"B":
            (n,) = struct.unpack_from("<H", rest)
            return "entry", (rest[2:2 + n].decode(), rest[2 + n:])
        if tag == b"D":
            return "delete", rest.decode()
        if tag == b"T":
            when, _, uid = rest.decode().partition("|")
            return "touch", (uid, float(when))
        if tag == b"E":
            return "end", int(rest)
        if tag == b"C":
            return "close", int(rest)
    except (ValueError, struct.error) as exc:
        raise CorruptData(f"undecodable operation: {exc}") from None
    raise CorruptData("unknown operation in log")
