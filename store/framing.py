"""The on-disk container for logs, snapshots and backups: a clear JSON header, then framed blobs.

Layout: MAGIC, u32 header length, JSON header ({"kind", "key_id", "dim", ...}), then frames of
u32 payload length, u32 CRC32 of the payload, payload. A frame cut short or failing its CRC at
the end of a file is a write that was never acknowledged (kill -9 before fsync returned): the
reader stops there and reports the valid length so the caller can truncate.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorruptData

log = logging.getLogger(__name__)

MAGIC = b"VOMIDv1\n"
_FRAME = struct.Struct("<II")


def encode_header(header: dict) -> bytes:
    body = json.dumps(header, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(body)) + body


def encode_frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass
class FrameFile:
    header: dict
    payloads: list[bytes] = field(default_factory=list)
    valid_end: int = 0     # byte offset after the last good frame
    torn_bytes: int = 0    # bytes after valid_end (an unacknowledged, partial write)


def read_frames(path: Path) -> FrameFile:
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise CorruptData(f"{path}: not a voiceprint store file (bad magic)")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    pos = len(MAGIC) + 4 + hlen
    try:
        header = json.loads(data[len(MAGIC) + 4:pos])
    except ValueError:
        raise CorruptData(f"{path}: unreadable header") from None
    out = FrameFile(header)
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        start, end = pos + _FRAME.size, pos + _FRAME.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        out.payloads.append(data[start:end])
        pos = end
    out.valid_end, out.torn_bytes = pos, len(data) - pos
    return out


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path: Path, header: dict, payloads) -> None:
    """Write to a temp name, fsync, rename, fsync the directory: the file exists whole or not at all."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(encode_header(header))
        for p in payloads:
            f.write(encode_frame(p))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Appender:
    """An append-only frame file; append() returns only once the frames are on stable storage."""

    def __init__(self, path: Path, header: dict | None = None, truncate_at: int | None = None):
        self.path = Path(path)
        if not self.path.exists():
            write_file_atomically(self.path, header or {}, [])
        self._f = open(self.path, "r+b")
        if truncate_at is not None:
            self._f.truncate(truncate_at)
            os.fsync(self._f.fileno())
        self._f.seek(0, os.SEEK_END)

    def append(self, payloads: list[bytes]) -> None:
        start = self._f.tell()
        try:
            self._f.write(b"".join(encode_frame(p) for p in payloads))
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError:
            # Cut the partial frame off, or later acknowledged frames would sit behind garbage.
            self._f.seek(start)
            self._f.truncate(start)
            raise

    def close(self) -> None:
        self._f.close()
