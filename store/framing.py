"""The on-disk container for logs, snapshots and backups: a checksummed JSON header, then framed blobs.

Layout: MAGIC, then frames of SYNC (8 bytes), u32 body length, u32 CRC32 (of length, sequence and body),
u64 sequence number, body. The first two frames are two copies of the JSON header ({"kind", "gen",
"file_id", "key_id", ...}, sequence HEADER_SEQ), so one damaged copy loses nothing; data frames are
numbered from 0. The sync marker lets a scanner step over a damaged frame to the next intact
one, so every damaged range can be located and every intact frame salvaged (a WAL's resynchronisation);
the sequence number, which the layer above also binds into each body's AEAD associated data, makes
dropped, reordered or replayed frames visible. This module knows bytes only: what a damaged range means
(torn write or corruption) is decided by store.container.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"VOMIDv2\n"
LEGACY_MAGIC = b"VOMIDv1\n"
SYNC = b"\xd9VmF\x1e\xa7\x5c\x93"
_FRAME = struct.Struct("<8sIIQ")     # sync, body length, CRC32, sequence
_CRC_FIELDS = struct.Struct("<IQ")   # what the CRC covers besides the body
FRAME_OVERHEAD = _FRAME.size
HEADER_SEQ = 2**64 - 1


class NotAFrameFile(ValueError):
    """The file does not start with a known magic (not ours, or the first bytes are damaged)."""


class LegacyFormat(ValueError):
    """A version 1 file (no sync markers, no position binding): read by store.legacy."""


def encode_header(header: dict) -> bytes:
    body = json.dumps(header, sort_keys=True).encode()
    return MAGIC + encode_frame(HEADER_SEQ, body) * 2


def encode_frame(seq: int, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(_CRC_FIELDS.pack(len(body), seq)))
    return _FRAME.pack(SYNC, len(body), crc, seq) + body


@dataclass
class Frame:
    offset: int
    seq: int
    body: bytes

    @property
    def end(self) -> int:
        return self.offset + FRAME_OVERHEAD + len(self.body)


@dataclass
class Scan:
    """Everything readable in one file: the header (None if damaged), intact frames, damaged byte ranges."""

    path: Path
    size: int
    header: dict | None = None
    header_copies: int = 0
    frames: list[Frame] = field(default_factory=list)
    damage: list[tuple[int, int]] = field(default_factory=list)   # [start, end) byte ranges

    @property
    def tail_damage(self) -> tuple[int, int] | None:
        """A damaged range running to the end of the file with no intact frame after it."""
        if self.damage and self.damage[-1][1] == self.size and \
                (not self.frames or self.frames[-1].end <= self.damage[-1][0]):
            return self.damage[-1]
        return None


def _frame_at(data: bytes, pos: int) -> Frame | None:
    if pos + FRAME_OVERHEAD > len(data):
        return None
    sync, length, crc, seq = _FRAME.unpack_from(data, pos)
    start = pos + FRAME_OVERHEAD
    if sync != SYNC or start + length > len(data):
        return None
    body = data[start:start + length]
    if zlib.crc32(body, zlib.crc32(_CRC_FIELDS.pack(length, seq))) != crc:
        return None
    return Frame(pos, seq, body)


def _parse_header(body: bytes) -> dict | None:
    try:
        header = json.loads(body)
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def scan(path: Path) -> Scan:
    """Read a whole file, resynchronising on the sync marker after each damaged stretch."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(LEGACY_MAGIC):
        raise LegacyFormat(str(path))
    if not data.startswith(MAGIC) and SYNC not in data:
        raise NotAFrameFile(f"{path}: not a voiceprint store file (bad magic at offset 0)")
    out = Scan(path, len(data))
    damage_start = None if data.startswith(MAGIC) else 0
    pos = len(MAGIC)
    while pos < len(data):
        frame = _frame_at(data, pos)
        if frame is not None:
            if damage_start is not None:
                out.damage.append((damage_start, pos))
                damage_start = None
            if frame.seq == HEADER_SEQ:
                header = _parse_header(frame.body)
                out.header_copies += header is not None
                out.header = out.header or header
            else:
                out.frames.append(frame)
            pos = frame.end
            continue
        if damage_start is None:
            damage_start = pos
        nxt = data.find(SYNC, pos + 1)
        pos = nxt if nxt >= 0 else len(data)
    if damage_start is not None:
        out.damage.append((damage_start, len(data)))
    return out


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(path: Path, header: dict, bodies: Iterable[bytes]) -> Path:
    """`path`.tmp written and fsync'd (bodies numbered 0, 1, ...); removed again when anything fails."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(encode_header(header))
            for seq, body in enumerate(bodies):
                f.write(encode_frame(seq, body))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit_temp(tmp: Path, path: Path, fsync_parent: bool = True) -> None:
    os.replace(tmp, path)
    if fsync_parent:
        fsync_dir(Path(path).parent)


def write_file_atomically(path: Path, header: dict, bodies: Iterable[bytes]) -> None:
    """Temp name, fsync, rename, fsync the directory: the file exists whole or not at all."""
    tmp = write_temp(path, header, bodies)
    try:
        commit_temp(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Appender:
    """An append-only frame file; append() returns only once the frames are on stable storage."""

    def __init__(self, path: Path, header: dict | None = None, truncate_at: int | None = None,
                 next_seq: int = 0):
        self.path = Path(path)
        if not self.path.exists():
            write_file_atomically(self.path, header or {}, [])
        self.next_seq = next_seq
        self.broken: str | None = None
        self._f = open(self.path, "r+b")
        if truncate_at is not None:
            self._f.truncate(truncate_at)
            os.fsync(self._f.fileno())
        self._f.seek(0, os.SEEK_END)

    def append(self, bodies: list[bytes]) -> None:
        if self.broken:
            raise OSError(5, self.broken)
        start = self._f.tell()
        try:
            self._f.write(b"".join(encode_frame(self.next_seq + i, b) for i, b in enumerate(bodies)))
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError:
            # Cut the partial frame off, or later acknowledged frames would sit behind garbage.
            try:
                self._f.seek(start)
                self._f.truncate(start)
                os.fsync(self._f.fileno())
            except OSError as exc:
                self.broken = f"{self.path}: could not cut off a failed write at offset {start}: {exc}"
            raise
        self.next_seq += len(bodies)

    def close(self) -> None:
        self._f.close()
