"""Backup and restore between any two backends through one encrypted file.

The file is a sealed container (store.container, kind "backup"): one put per user in creation order,
then an end marker carrying the count, every frame bound to its place in this file; a truncated,
damaged, reordered or spliced copy is refused with the byte range.
Restoring into a different backend than the source is how memory/file -> redis migration works.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .base import VoiceprintStore
from .crypto import Cipher
from .container import new_header, position_aad, read_sealed
from .errors import CorruptData, InvalidRequest
from .framing import LegacyFormat, encode_frame, encode_header, fsync_dir
from .legacy import read_v1
from .records import UserRecord, decode_op, encode_end, encode_put

log = logging.getLogger(__name__)
_CHUNK = 1000


async def backup(store: VoiceprintStore, path: str | Path, cipher: Cipher) -> int:
    """Write a consistent snapshot of `store` to `path` (atomically); returns the user count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n, dim = 0, None
    header = new_header("backup", 0, cipher, source=store.backend)

    def frame(plaintext: bytes) -> bytes:
        return encode_frame(n, cipher.encrypt(plaintext, position_aad(header, n)))

    try:
        with open(tmp, "wb") as f:
            f.write(encode_header(header))
            async for record in store.export_records():
                f.write(frame(encode_put(record)))
                n, dim = n + 1, record.dim
            f.write(frame(encode_end(n)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    log.info("backup of %d users (dim %s) from %s written to %s", n, dim, store.backend, path)
    return n


def read_backup(path: str | Path, cipher: Cipher) -> list[UserRecord]:
    try:
        ops = [decode_op(p) for p in read_sealed(Path(path), cipher, "backup").plaintexts]
        torn = 0
    except LegacyFormat:
        header, ops, torn = read_v1(Path(path), cipher)
        if header.get("kind") != "backup":
            raise CorruptData(f"{path}: not a backup file (kind {header.get('kind')!r})") from None
    records = [arg for op, arg in ops if op == "put"]
    if torn or not ops or ops[-1] != ("end", len(records)) or len(records) != len(ops) - 1:
        raise CorruptData(f"{path}: backup is incomplete (its end marker is missing or wrong: truncated)")
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
