"""Sealed frame files: every frame is bound to its place, and reading tells a torn write from corruption.

Each frame's body is AES-GCM sealed with (kind, generation, file id, sequence) as associated data, so a
frame replayed from elsewhere in the file, spliced in from another file or moved fails authentication,
and a gap in the sequence shows dropped frames. The rules are a database WAL's: a damaged stretch that
runs to the end of the newest log is a write that was never acknowledged and is cut off; any other
damage (header, middle, snapshot, backup, older log) is corruption, and reading refuses with the file and
byte range and never truncates. `inspect` lists every problem (`python -m store verify`); `salvage`
returns every intact frame (`python -m store repair`).
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from .crypto import Cipher
from .errors import CorruptData, StoreConfigError
from .framing import Frame, Scan, scan

FORMAT = 2


def new_header(kind: str, gen: int, cipher: Cipher, **extra) -> dict:
    return {"format": FORMAT, "kind": kind, "gen": gen, "file_id": secrets.token_hex(16),
            "key_id": cipher.key_id, "created_at": time.time(), **extra}


def position_aad(header: dict, seq: int) -> bytes:
    return f"vomid-frame-v2|{header['kind']}|{header['gen']}|{header['file_id']}|{seq}".encode()


def seal_all(header: dict, cipher: Cipher, plaintexts, first_seq: int = 0) -> list[bytes]:
    return list(seal_iter(header, cipher, plaintexts, first_seq))


def seal_iter(header: dict, cipher: Cipher, plaintexts, first_seq: int = 0):
    """Lazily, so a snapshot of a million users is never all in memory twice."""
    for i, p in enumerate(plaintexts):
        yield cipher.encrypt(p, position_aad(header, first_seq + i))


@dataclass
class Problem:
    start: int
    end: int
    what: str
    tail: bool = False   # a damaged stretch running to the end of the file

    def __str__(self) -> str:
        return f"bytes {self.start}-{self.end}: {self.what}"


@dataclass
class Inspection:
    scan: Scan
    problems: list[Problem]
    plaintexts: list[bytes]   # every intact, authentic frame in sequence order
    seqs: list[int]

    @property
    def header(self) -> dict:
        return self.scan.header


def _open_frame(frame: Frame, header: dict, cipher: Cipher) -> bytes | str:
    """The plaintext, or why it cannot be trusted."""
    try:
        return cipher.decrypt(frame.body, position_aad(header, frame.seq))
    except CorruptData:
        return f"frame {frame.seq} fails authentication at its place (replayed, spliced or forged)"
    except StoreConfigError:
        return f"frame {frame.seq} is sealed with a key this store does not hold (spliced in?)"


def inspect(path: Path, cipher: Cipher, kind: str | None = None, gen: int | None = None) -> Inspection:
    """Every problem of one file, in file order, and its intact frames. Raises only for a wrong key."""
    sc = scan(Path(path))
    problems = [Problem(a, b, "damaged bytes (checksum or framing)", tail=b == sc.size and
                        not any(f.offset >= b for f in sc.frames)) for a, b in sc.damage]
    header = sc.header
    if header is None:
        problems.insert(0, Problem(0, sc.frames[0].offset if sc.frames else sc.size,
                                   "both header copies are damaged: frames cannot be authenticated"))
        return Inspection(sc, problems, [], [])
    cipher.check_key_id(str(header.get("key_id")), str(path))
    for field, want in (("kind", kind), ("gen", gen)):
        if want is not None and header.get(field) != want:
            problems.append(Problem(0, 0, f"header says {field} {header.get(field)!r}, expected {want!r} "
                                          "(renamed or substituted file)"))
    plaintexts, seqs, expected = [], [], 0
    for frame in sc.frames:
        if frame.seq < expected:
            problems.append(Problem(frame.offset, frame.end, f"frame {frame.seq} repeats an earlier sequence "
                                    "number (replayed or reordered)"))
            continue
        if frame.seq > expected and not any(a < frame.offset and b >= frame.offset for a, b in sc.damage):
            problems.append(Problem(frame.offset, frame.offset, f"frames {expected}-{frame.seq - 1} are missing "
                                    "before this point (dropped)"))
        opened = _open_frame(frame, header, cipher)
        if isinstance(opened, str):
            problems.append(Problem(frame.offset, frame.end, opened))
            continue
        plaintexts.append(opened)
        seqs.append(frame.seq)
        expected = frame.seq + 1
    problems.sort(key=lambda p: p.start)
    return Inspection(sc, problems, plaintexts, seqs)


@dataclass
class Contents:
    header: dict
    plaintexts: list[bytes]
    truncate_at: int | None   # where a torn tail starts (newest log only)
    torn_bytes: int
    next_seq: int


def read_sealed(path: Path, cipher: Cipher, kind: str, gen: int | None = None,
                newest_log: bool = False) -> Contents:
    """A file's frames, all of them intact and in place; anything else raises CorruptData naming the place."""
    ins = inspect(path, cipher, kind, gen)
    problems = ins.problems
    torn = newest_log and len(problems) == 1 and problems[0].tail
    if problems and not torn:
        listed = "; ".join(str(p) for p in problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise CorruptData(f"{path}: {listed}. Refusing to open (nothing was truncated): "
                          "run `python -m store verify` and `python -m store repair`")
    truncate_at = problems[0].start if torn else None
    return Contents(ins.header, ins.plaintexts, truncate_at,
                    ins.scan.size - truncate_at if torn else 0, (ins.seqs[-1] + 1) if ins.seqs else 0)


def salvage(path: Path, cipher: Cipher, kind: str | None = None, gen: int | None = None) -> Inspection:
    """Every intact frame for repair; refuses only when the header (and so the frames' binding) is lost."""
    ins = inspect(path, cipher, kind, gen)
    if ins.scan.header is None:
        raise CorruptData(f"{path}: {ins.problems[0]}")
    return ins
