"""`python -m store verify` and `repair`: report every damaged range; salvage every intact frame.

verify reads each file of a file store (or one backup) and lists every problem with its byte range,
then checks that the files form one unbroken history. repair copies each damaged file aside
(`<name>.damaged-<time>`), then writes a new file of the same kind and generation holding every intact,
authentic frame (a snapshot gets a fresh end marker, an older log its close marker), and verifies again.
What the damaged frames held is lost and reported as such; nothing intact is.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .container import Inspection, inspect, new_header, salvage, seal_iter
from .crypto import Cipher
from .errors import CorruptData, StoreConfigError
from .filedir import list_files, replay
from .framing import LegacyFormat, fsync_dir, write_file_atomically
from .records import decode_op, encode_close, encode_end


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def bad(self, line: str) -> None:
        self.lines.append(line)
        self.ok = False


def _files(directory: Path) -> list[tuple[str, int, Path]]:
    snaps, logs = list_files(directory, clean_tmp=False)
    return [("snapshot", g, p) for g, p in sorted(snaps.items())] + [("log", g, p) for g, p in sorted(logs.items())]


def _real_problems(ins: Inspection, newest_log: bool) -> list:
    """A torn last write of the newest log is what recovery cuts off, not damage."""
    return [p for p in ins.problems if not (newest_log and p.tail and len(ins.problems) == 1)]


def verify_store(directory: Path, cipher: Cipher) -> Report:
    report, files = Report(), _files(directory)
    newest = max((g for kind, g, _ in files if kind == "log"), default=None)
    for kind, gen, path in files:
        try:
            ins = inspect(path, cipher, kind, gen)
        except LegacyFormat:
            report.lines.append(f"{path}: version 1 file (the store rewrites it as version 2 when it opens)")
            continue
        problems = _real_problems(ins, kind == "log" and gen == newest)
        for p in problems:
            report.bad(f"{path}: {p}")
        if len(problems) < len(ins.problems):
            report.lines.append(f"{path}: {ins.problems[0]} (a torn last write: cut off when the store opens)")
        if not problems:
            report.lines.append(f"{path}: ok, {len(ins.plaintexts)} frames")
    if report.ok:
        snaps, logs = list_files(directory, clean_tmp=False)
        try:
            replay(snaps, logs, cipher)
        except LegacyFormat:
            pass
        except CorruptData as exc:
            report.bad(str(exc))
    return report


def verify_file(path: Path, cipher: Cipher) -> Report:
    report = Report()
    ins = inspect(Path(path), cipher)
    for p in ins.problems:
        report.bad(f"{path}: {p}")
    if report.ok:
        report.lines.append(f"{path}: ok, {len(ins.plaintexts)} frames ({ins.header.get('kind')})")
    return report


@contextmanager
def _locked(directory: Path):
    fd = os.open(Path(directory) / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreConfigError(f"storage.path: {directory} is in use: stop the store before repairing it") from None
        yield
    finally:
        os.close(fd)


def _salvaged_ops(ins: Inspection, kind: str, gen: int, newest: int | None) -> tuple[list[bytes], str]:
    ops = [decode_op(p) for p in ins.plaintexts]
    if kind in ("snapshot", "backup"):
        puts = [p for p, (op, _) in zip(ins.plaintexts, ops) if op in ("put", "entry")]
        expected = next((arg for op, arg in ops if op == "end"), None)
        lost = f"{expected - len(puts)} of {expected} users" if expected is not None else "an unknown number of users"
        return puts + [encode_end(len(puts))], f"{len(puts)} users kept, {lost} lost"
    keep = [p for p, (op, _) in zip(ins.plaintexts, ops) if op != "close"]
    if gen != newest:
        keep.append(encode_close(gen + 1))
    seen = ins.seqs[-1] + 1 if ins.seqs else 0
    return keep, f"{len(ins.seqs)} of at least {seen} frames kept (lost changes are not recoverable)"


def _rewrite(path: Path, ins: Inspection, kind: str, gen: int, plaintexts: list[bytes], cipher: Cipher,
             stamp: str) -> Path:
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    shutil.copy2(path, aside)       # keep the evidence before anything replaces it
    with open(aside, "rb") as f:
        os.fsync(f.fileno())
    header = new_header(kind, gen, cipher, dim=ins.header.get("dim"), repaired_from=ins.header.get("file_id"))
    write_file_atomically(path, header, seal_iter(header, cipher, plaintexts))
    return aside


def repair_store(directory: Path, cipher: Cipher) -> Report:
    report, stamp = Report(), time.strftime("%Y%m%dT%H%M%S")
    with _locked(directory):
        files = _files(directory)
        newest = max((g for kind, g, _ in files if kind == "log"), default=None)
        for kind, gen, path in files:
            try:
                ins = salvage(path, cipher, kind, gen)
            except LegacyFormat:
                continue
            except CorruptData as exc:
                report.bad(f"{exc} (not repairable)")
                continue
            if not _real_problems(ins, kind == "log" and gen == newest):
                continue
            plaintexts, what = _salvaged_ops(ins, kind, gen, newest)
            aside = _rewrite(path, ins, kind, gen, plaintexts, cipher, stamp)
            report.lines.append(f"{path}: rewritten from its intact frames: {what}; damaged copy kept as {aside.name}")
        fsync_dir(Path(directory))
    after = verify_store(directory, cipher)
    report.lines += after.lines
    report.ok = report.ok and after.ok
    return report


def repair_backup(path: Path, out: Path, cipher: Cipher) -> Report:
    ins = salvage(Path(path), cipher, "backup")
    plaintexts, what = _salvaged_ops(ins, "backup", 0, None)
    header = new_header("backup", 0, cipher, source=ins.header.get("source"), repaired_from=ins.header.get("file_id"))
    write_file_atomically(Path(out), header, seal_iter(header, cipher, plaintexts))
    return Report([f"{out}: written from the intact frames of {path}: {what}"])
