"""The file backend's directory: which files make up the store, and recovering its state from them.

  snapshot-<g>.bin  every user as of the moment log <g> was started, closed by an end marker
  log-<g>.bin       puts/deletes after that moment; a log replaced by a newer one ends with a close marker
The history that counts is the newest snapshot (generation b) plus logs b, b+1, ... without a gap. A
missing log, a log that ends without its close marker while a newer one holds data, a snapshot without
its end marker, and any damage except a torn last write are refused with the file and byte range.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .container import new_header, read_sealed, seal_iter
from .crypto import Cipher
from .errors import CorruptData
from .framing import LegacyFormat, fsync_dir, write_temp
from .legacy import read_v1
from .records import UserRecord, decode_op, encode_end, encode_put

log = logging.getLogger(__name__)
NAME = re.compile(r"^(snapshot|log)-(\d+)\.bin$")


def list_files(directory: Path, clean_tmp: bool = True) -> tuple[dict[int, Path], dict[int, Path]]:
    snaps, logs = {}, {}
    for p in Path(directory).iterdir():
        m = NAME.match(p.name)
        if m:
            (snaps if m[1] == "snapshot" else logs)[int(m[2])] = p
        elif clean_tmp and p.name.endswith(".tmp"):
            p.unlink()  # an interrupted atomic write; its final name never appeared
    return snaps, logs


@dataclass
class Recovered:
    records: dict[str, UserRecord] = field(default_factory=dict)
    gen: int = 0                   # generation of the log to append to
    log_usable: bool = False       # that log exists and is not closed
    truncate_at: int | None = None
    next_seq: int = 0
    entries: int = 0
    log_header: dict | None = None
    legacy: bool = False           # read from version 1 files: rewrite the directory now
    base: int = 0                  # generation of the snapshot the history starts from


def _apply(ops, state: dict[str, UserRecord], path: Path, allowed: tuple[str, ...]) -> None:
    for i, (op, arg) in enumerate(ops):
        if op not in allowed or (op in ("end", "close") and i != len(ops) - 1):
            raise CorruptData(f"{path}: unexpected {op!r} operation at frame {i}")
        if op == "put":
            state[arg.user_id] = arg if arg.data_key is not None else arg.with_key()  # version 1: no key yet
        elif op == "delete":
            state.pop(arg, None)
        elif op == "touch" and arg[0] in state:
            state[arg[0]] = replace(state[arg[0]], last_used=arg[1])


def _read_snapshot(path: Path, gen: int, cipher: Cipher, state: dict) -> None:
    ops = [decode_op(p) for p in read_sealed(path, cipher, "snapshot", gen).plaintexts]
    puts = sum(op == "put" for op, _ in ops)
    if not ops or ops[-1] != ("end", puts):
        raise CorruptData(f"{path}: snapshot is incomplete (its end marker is missing: frames were dropped)")
    _apply(ops, state, path, ("put", "end"))


def recover(directory: Path, cipher: Cipher) -> Recovered:
    """The store's state; retires files older than the newest snapshot once that snapshot has been read."""
    snaps, logs = list_files(directory)
    try:
        out = replay(snaps, logs, cipher)
    except LegacyFormat:
        return _recover_v1(snaps, logs, cipher)
    for g, p in [*snaps.items(), *logs.items()]:
        if g < out.base:
            p.unlink()
    return out


def replay(snaps: dict[int, Path], logs: dict[int, Path], cipher: Cipher) -> Recovered:
    """Read the history (no side effects: verify uses it too)."""
    out = Recovered()
    base = max(snaps, default=None)
    if base is not None:
        _read_snapshot(snaps[base], base, cipher, out.records)
    start = base if base is not None else 0
    live = sorted(g for g in logs if g >= start)
    if live and live != list(range(start, live[-1] + 1)):
        missing = sorted(set(range(start, live[-1] + 1)) - set(live))
        raise CorruptData(f"{Path(next(iter(logs.values()))).parent}: log-{missing[0]}.bin is missing "
                          "(the history between the snapshot and the newest log is incomplete)")
    contents = {g: read_sealed(logs[g], cipher, "log", g, newest_log=g == live[-1]) for g in live}
    for g in live:
        ops = [decode_op(p) for p in contents[g].plaintexts]
        closed = bool(ops) and ops[-1][0] == "close"
        if closed and ops[-1][1] != g + 1:
            raise CorruptData(f"{logs[g]}: close marker names log-{ops[-1][1]}, expected log-{g + 1}")
        newer_has_data = any(contents[h].plaintexts for h in live if h > g)
        if g != live[-1] and not closed and newer_has_data:
            raise CorruptData(f"{logs[g]}: ends without its close marker while log-{g + 1} holds data "
                              "(frames at its end were dropped)")
        _apply(ops, out.records, logs[g], ("put", "delete", "touch", "close"))
    if live:
        newest = contents[live[-1]]
        out.gen, out.log_header, out.next_seq = live[-1], newest.header, newest.next_seq
        out.truncate_at, out.entries = newest.truncate_at, len(newest.plaintexts)
        out.log_usable = not (newest.plaintexts and decode_op(newest.plaintexts[-1])[0] == "close")
        if newest.truncate_at is not None:
            log.warning("dropping an unacknowledged torn write at the end of %s (%d bytes)",
                        logs[live[-1]], newest.torn_bytes)
        if not out.log_usable:
            out.gen += 1
    else:
        out.gen = start
    out.base = start
    return out


def _recover_v1(snaps: dict[int, Path], logs: dict[int, Path], cipher: Cipher) -> Recovered:
    """Version 1 directory: replay it the old way; the caller rewrites it as version 2 straight away."""
    out = Recovered(legacy=True)
    base = max(snaps, default=0)
    if base in snaps:
        _, ops, torn = read_v1(snaps[base], cipher)
        if torn:
            raise CorruptData(f"{snaps[base]}: version 1 snapshot is damaged ({torn} bad bytes)")
        _apply(ops, out.records, snaps[base], ("put",))
    live = sorted(g for g in logs if g >= base)
    for g in live:
        _, ops, torn = read_v1(logs[g], cipher)
        if torn and g != live[-1]:
            raise CorruptData(f"{logs[g]}: version 1 log damaged in the middle of the history")
        _apply(ops, out.records, logs[g], ("put", "delete"))
    out.gen = max([*snaps, *logs], default=0) + 1
    return out


def write_snapshot(directory: Path, gen: int, records, cipher: Cipher, dim: int | None) -> Path:
    """snapshot-<gen>.bin.tmp, fsync'd (every record, then an end marker with the count); the caller renames it."""
    header = new_header("snapshot", gen, cipher, dim=dim)
    records = list(records)
    plaintexts = (encode_put(r) for r in records)
    return write_temp(Path(directory) / f"snapshot-{gen}.bin", header,
                      seal_iter(header, cipher, _then_end(plaintexts, len(records))))


def _then_end(plaintexts, count: int):
    yield from plaintexts
    yield encode_end(count)


def remove_older(directory: Path, gen: int) -> None:
    """Retire every file of a generation before `gen` (the snapshot of `gen` replaces them)."""
    snaps, logs = list_files(directory, clean_tmp=False)
    for g, p in [*snaps.items(), *logs.items()]:
        if g < gen:
            p.unlink()
    fsync_dir(Path(directory))
