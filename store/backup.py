"""Backup and restore between any two backends through one encrypted file, honouring erasure.

The file is a sealed container (store.container, kind "backup"): one entry per user in creation order,
then an end marker carrying the count, every frame bound to its place in this file; a truncated,
damaged, reordered or spliced copy is refused with the byte range. Each entry is the user's record
sealed under the user's own data key, which the backup does NOT contain: restore asks a live key source
(the target store, or with `key_source` the store the backup came from) for each user's data key, and
skips users whose key is gone, i.e. users deleted since the backup was taken. Restoring into another
backend is how memory/file -> redis/postgres migration works (the data keys travel with the records).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .base import VoiceprintStore
from .container import new_header, position_aad, read_sealed
from .crypto import Cipher
from .datakeys import key_id_of
from .errors import CorruptData, InvalidRequest
from .framing import LegacyFormat, encode_frame, encode_header, fsync_dir
from .legacy import read_v1
from .records import UserRecord, decode_op, encode_backup_entry, encode_end

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
                f.write(frame(encode_backup_entry(record)))
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


@dataclass
class BackupContents:
    entries: list[tuple[str, bytes]]   # (user id, record sealed under its data key)
    legacy_records: list[UserRecord]   # version 1 backups: records without data keys


def read_backup(path: str | Path, cipher: Cipher) -> BackupContents:
    try:
        ops = [decode_op(p) for p in read_sealed(Path(path), cipher, "backup").plaintexts]
        torn = 0
    except LegacyFormat:
        header, ops, torn = read_v1(Path(path), cipher)
        if header.get("kind") != "backup":
            raise CorruptData(f"{path}: not a backup file (kind {header.get('kind')!r})") from None
    body = [(op, arg) for op, arg in ops if op in ("entry", "put")]
    if torn or not ops or ops[-1] != ("end", len(body)) or len(body) != len(ops) - 1:
        raise CorruptData(f"{path}: backup is incomplete (its end marker is missing or wrong: truncated)")
    return BackupContents([a for op, a in body if op == "entry"], [a for op, a in body if op == "put"])


@dataclass
class RestoreResult:
    restored: int
    skipped_erased: int   # users whose data key the key source no longer holds


async def _unseal_chunk(entries, key_source: VoiceprintStore) -> tuple[list[UserRecord], int]:
    keys = await key_source.data_keys([uid for uid, _ in entries])
    records, skipped = [], 0
    for uid, sealed in entries:
        dk = keys.get(uid)
        if dk is None or dk.key_id != key_id_of(sealed):
            skipped += 1   # erased since the backup (or deleted and enrolled again under a new key)
            continue
        records.append(UserRecord.unseal(sealed, uid, 0, dk))
    return records, skipped


async def restore(store: VoiceprintStore, path: str | Path, cipher: Cipher, merge: bool = False,
                  key_source: VoiceprintStore | None = None, allow_legacy: bool = False) -> RestoreResult:
    """Load a backup into an (empty, unless merge) store; users erased since the backup stay erased.

    key_source: the store whose data keys decide (default: the target itself).
    """
    contents = read_backup(path, cipher)
    if contents.legacy_records and not allow_legacy:
        raise InvalidRequest(f"{path} is a version 1 backup: it predates per-user keys, so users deleted since "
                             "it was taken cannot be told apart; pass allow_legacy (--legacy-backup) to restore "
                             "it anyway")
    if not merge and await store.count() > 0:
        raise InvalidRequest("the target store is not empty (pass merge to upsert into it)")
    source = key_source or store
    restored, skipped = 0, 0
    for i in range(0, len(contents.entries), _CHUNK):
        records, n_skipped = await _unseal_chunk(contents.entries[i:i + _CHUNK], source)
        if records:
            await store.import_records(records)
        restored, skipped = restored + len(records), skipped + n_skipped
    for i in range(0, len(contents.legacy_records), _CHUNK):
        await store.import_records(contents.legacy_records[i:i + _CHUNK])
        restored += len(contents.legacy_records[i:i + _CHUNK])
    log.info("restored %d users into %s; skipped %d whose data key is gone (erased since the backup)",
             restored, store.backend, skipped)
    return RestoreResult(restored, skipped)
