"""Reads version 1 files (before sync markers and position binding) so existing stores and backups open.

Version 1: MAGIC, u32 header length, JSON header, then frames of u32 length, u32 CRC32, payload, each
payload AES-GCM sealed with one constant associated data. They are read once, the way version 1 did, and
the file store then rewrites its directory in version 2 at once.
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

from .crypto import Cipher
from .errors import CorruptData
from .framing import LEGACY_MAGIC
from .records import decode_op

_FRAME = struct.Struct("<II")
_OP_AAD = b"vomid-op-v1"
RECORD_AAD = b"vomid-record-v1"


def read_v1(path: Path, cipher: Cipher) -> tuple[dict, list[tuple[str, object]], int]:
    """(header, ops, torn bytes at the end) of a version 1 file."""
    data = Path(path).read_bytes()
    if not data.startswith(LEGACY_MAGIC) or len(data) < len(LEGACY_MAGIC) + 4:
        raise CorruptData(f"{path}: not a version 1 store file")
    (hlen,) = struct.unpack_from("<I", data, len(LEGACY_MAGIC))
    pos = len(LEGACY_MAGIC) + 4 + hlen
    try:
        header = json.loads(data[len(LEGACY_MAGIC) + 4:pos])
    except ValueError:
        raise CorruptData(f"{path}: unreadable version 1 header") from None
    cipher.check_key_id(str(header.get("key_id")), str(path))
    ops = []
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        start, end = pos + _FRAME.size, pos + _FRAME.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        ops.append(decode_op(cipher.decrypt(data[start:end], _OP_AAD)))
        pos = end
    return header, ops, len(data) - pos
