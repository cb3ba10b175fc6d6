"""Backup and restore between any two backends through one encrypted file.

The file is the framed container of store.framing (kind "backup"): one sealed put per user in
creation order, then an end marker carrying the count, so a truncated copy is refused.
Restoring into a different backend than the source is how memory/file -> redis migration works.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .base import VoiceprintStore
from .crypto import Cipher
from .errors import CorruptData, InvalidRequest
from .framing import encode_frame, encode_header, fsync_dir, read_frames
from .records import UserRecord, seal_end, seal_put, unseal_op

log = logging.getLogger(__name__)
_CHUNK = 1000


async def backup(store: VoiceprintStore, path: str | Path, cipher: Cipher) -> int:
    """Write a consistent snapshot of `store` to `path` (atomically); returns the user count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n, dim = 0, None
    with open(tmp, "wb") as f:
        f.write(encode_header({"kind": "backup", "key_id": cipher.key_id, "source": store.backend,
                               "created_at": time.time()}))
        async for record in store.export_records():
            f.write(encode_frame(seal_put(record, cipher)))
            n, dim = n + 1, record.dim
        f.write(encode_frame(seal_end(n, cipher)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    log.info("backup of %d users (dim %s) from %s written to %s", n, dim, store.backend, path)
    return n


def read_backup(path: str | Path, cipher: Cipher) -> list[UserRecord]:
    ff = read_frames(Path(path))
    if ff.header.get("kind") != "backup":
        raise CorruptData(f"{path}: not a backup file (kind {ff.header.get('kind')!r})")
    cipher.check_key_id(ff.header["key_id"], str(path))
    records, end = [], None
    for blob in ff.payloads:
        op, arg = unseal_op(blob, cipher)
        if op == "put":
            records.append(arg)
        elif op == "end":
            end = arg
    if end is None or end != len(records) or ff.torn_bytes:
        raise CorruptData(f"{path}: backup is incomplete (truncated or damaged)")
    return records


async def restore(store: VoiceprintStore, path: str | Path, cipher: Cipher, merge: bool = False) -> int:
    """Load a backup into an (empty, unless merge) store; returns the user count."""
    records = read_backup(path, cipher)
    if not merge and await store.count() > 0:
        raise InvalidRequest("the target store is not empty (pass merge to upsert into it)")
    for i in range(0, len(records), _CHUNK):
        await store.import_records(records[i:i + _CHUNK])
    log.info("restored %d users into %s", len(records), store.backend)
    return len(records)
