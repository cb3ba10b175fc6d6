"""Key escrow for disaster recovery: the data keys of a backup's users, in their own file, sealed by the main key.

A backup holds no data keys, so it can never bring back a user erased since it was taken: restore asks a live
store for the keys. When no live store survives (every Redis replica, the PostgreSQL standby, the file store's
disk are gone), the escrow written beside the backup is that key source. The price is plain: a user erased after
an escrow was written can be restored from it, so escrow files are kept for a short, stated time
(`deploy.sh backup` prunes them) and erasure reaches the backups once every escrow older than the erasure is gone.
Same sealed container as backups (every frame bound to its place; truncation, splicing and reordering refused).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from .base import VoiceprintStore
from .container import new_header, position_aad, read_sealed
from .crypto import Cipher
from .datakeys import DataKey
from .errors import CorruptData
from .framing import encode_frame, encode_header, fsync_dir
from .records import decode_op, encode_end

KIND = "keys"
_CHUNK = 1000


def _entry(user_id: str, key: DataKey) -> bytes:
    uid = user_id.encode()
    return b"k" + struct.pack("<H", len(uid)) + uid + key.to_bytes()


def _parse(data: bytes) -> tuple[str, DataKey]:
    if data[:1] != b"k" or len(data) < 3:
        raise CorruptData("not a key escrow entry")
    (length,) = struct.unpack_from("<H", data, 1)
    return data[3:3 + length].decode(), DataKey.from_bytes(data[3 + length:])


async def write_escrow(store: VoiceprintStore, user_ids: list[str], path: str | Path, cipher: Cipher) -> int:
    """The live data keys of `user_ids` into `path` (atomically); returns how many were written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    header, n = new_header(KIND, 0, cipher, source=store.backend), 0
    try:
        with open(tmp, "wb") as f:
            f.write(encode_header(header))
            for i in range(0, len(user_ids), _CHUNK):
                for user_id, key in (await store.data_keys(user_ids[i:i + _CHUNK])).items():
                    f.write(encode_frame(n, cipher.encrypt(_entry(user_id, key), position_aad(header, n))))
                    n += 1
            f.write(encode_frame(n, cipher.encrypt(encode_end(n), position_aad(header, n))))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return n


class KeyEscrow:
    """A key source for `store.backup.restore` (it answers `data_keys` like a live store)."""

    def __init__(self, path: str | Path, cipher: Cipher):
        plaintexts = read_sealed(Path(path), cipher, KIND).plaintexts
        if not plaintexts or decode_op(plaintexts[-1]) != ("end", len(plaintexts) - 1):
            raise CorruptData(f"{path}: key escrow is incomplete (its end marker is missing or wrong)")
        self._keys = dict(_parse(p) for p in plaintexts[:-1])

    def __len__(self) -> int:
        return len(self._keys)

    async def data_keys(self, user_ids: list[str]) -> dict[str, DataKey]:
        return {uid: self._keys[uid] for uid in user_ids if uid in self._keys}
