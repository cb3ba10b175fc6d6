"""File integrity: a flipped byte anywhere is a refusal naming the place or a torn tail, never a silent loss;
repair keeps every intact frame; replayed, spliced, dropped and reordered frames are refused."""
import asyncio
import re
import shutil
from pathlib import Path

import pytest

from store.backup import backup, read_backup
from store.cli import main
from store.config import StorageConfig
from store.container import inspect
from store.crypto import Cipher, parse_key
from store.errors import CorruptData
from store.factory import create_store
from store.framing import scan
from store.records import decode_op
from store.repair import repair_backup, repair_store

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]
DIM = 8


async def opened(path, key):
    s = create_store(StorageConfig.from_dict({"type": "file", "path": str(path), "encryption_key": key}))
    await s.open()
    return s


async def state(path, key) -> dict:
    s = await opened(path, key)
    try:
        return {u.user_id: (u.name, u.enrollments) for u in (await s.list_users(limit=1000)).items}
    finally:
        await s.close()


@pytest.fixture
async def built(tmp_path, key, rng):
    """A closed store: snapshot-N with users, then log-N with puts and an enrollment."""
    path = tmp_path / "clean"
    s = await opened(path, key)
    users = [await s.create_user(f"s{i}", [unit(rng, DIM)]) for i in range(4)]
    await s.delete_user(users[1].user_id)   # a deletion compacts: snapshot + fresh log
    await s.settle()
    more = [await s.create_user(f"l{i}", [unit(rng, DIM)]) for i in range(4)]
    await s.add_enrollment(more[0].user_id, unit(rng, DIM))
    await s.close()
    return path


def apply_ops(ops, base: dict) -> dict:
    out = dict(base)
    for op, arg in ops:
        if op == "put":
            out[arg.user_id] = (arg.name, arg.embeddings.shape[0])
        elif op == "delete":
            out.pop(arg, None)
    return out


def file_of(path: Path, kind: str) -> Path:
    return next(path.glob(f"{kind}-*.bin"))


def ops_by_frame(f: Path, cipher) -> list:
    return [decode_op(p) for p in inspect(f, cipher).plaintexts]


def flip(f: Path, offset: int) -> None:
    data = bytearray(f.read_bytes())
    data[offset] ^= 0x20
    f.write_bytes(bytes(data))


def named_range(message: str, f: Path, offset: int) -> bool:
    """The refusal names the file and a byte range holding the flipped byte."""
    return f.name in message and any(int(a) <= offset < max(int(b), int(a) + 1)
                                     for a, b in re.findall(r"bytes (\d+)-(\d+)", message))


@pytest.mark.parametrize("kind", ["log", "snapshot"])
async def test_every_flipped_byte_is_refused_by_place_or_a_torn_tail(built, tmp_path, key, kind):
    cipher = Cipher(parse_key(key, "k"))
    snap_ops, log_ops = ops_by_frame(file_of(built, "snapshot"), cipher), ops_by_frame(file_of(built, "log"), cipher)
    full = apply_ops(log_ops, apply_ops(snap_ops, {}))
    assert full == await state(built, key)
    target = file_of(built, kind)
    frames = scan(target).frames
    size = target.stat().st_size
    outcomes = {"refused": 0, "torn": 0}
    for offset in range(0, size, 3):
        work = tmp_path / f"w{offset}"
        shutil.copytree(built, work)
        flip(work / target.name, offset)
        try:
            got = await state(work, key)
        except CorruptData as exc:
            assert named_range(str(exc), work / target.name, offset), (offset, str(exc))
            outcomes["refused"] += 1
            # repair keeps everything but the damaged frame
            report = repair_store(work, cipher)
            assert report.ok, report.lines
            lost = [i for i, f in enumerate(frames) if f.offset <= offset < f.end]
            if kind == "log":
                expected = apply_ops([o for i, o in enumerate(log_ops) if i not in lost], apply_ops(snap_ops, {}))
            else:
                expected = apply_ops(log_ops, apply_ops([o for i, o in enumerate(snap_ops) if i not in lost], {}))
            assert await state(work, key) == expected, offset
            assert list(work.glob(f"{target.name}.damaged-*"))  # the evidence is kept
        else:
            # Only damage in the newest log's last frame may pass, as a torn write cut off.
            assert kind == "log" and offset >= frames[-1].offset, offset
            assert got == apply_ops(log_ops[:-1], apply_ops(snap_ops, {}))
            outcomes["torn"] += 1
        shutil.rmtree(work)
    assert outcomes["refused"] > 0 and (kind == "snapshot" or outcomes["torn"] > 0)


async def cli(*argv) -> int:
    return await asyncio.to_thread(main, list(argv))  # the CLI runs its own event loop


async def test_cli_verify_reports_and_repair_salvages(built, key, capsys):
    log = file_of(built, "log")
    middle = scan(log).frames[2]
    flip(log, middle.offset + 40)
    sets = ["--set", "type=file", "--set", f"path={built}", "--set", f"encryption_key={key}"]
    assert await cli("verify", *sets) == 4
    err = capsys.readouterr().err
    assert f"bytes {middle.offset}-{middle.end}" in err and log.name in err
    assert await cli("repair", *sets) == 0
    assert "rewritten from its intact frames" in capsys.readouterr().out
    assert await cli("verify", *sets) == 0
    assert len(await state(built, key)) == 6  # 3 + 4 users, one put lost with the damaged frame


def frame_bytes(f: Path, i: int) -> bytes:
    fr = scan(f).frames[i]
    return f.read_bytes()[fr.offset:fr.end]


async def refused(path, key, match: str) -> None:
    with pytest.raises(CorruptData, match=match):
        await opened(path, key)


async def test_replayed_frame_is_refused(built, key):
    log = file_of(built, "log")
    with open(log, "ab") as f:
        f.write(frame_bytes(log, 0))   # an old put, appended again
    await refused(built, key, "repeats an earlier sequence")


async def test_frame_renumbered_with_a_valid_checksum_is_refused(built, key):
    from store.framing import encode_frame
    log = file_of(built, "log")
    fr = scan(log).frames[0]
    with open(log, "ab") as f:
        f.write(encode_frame(len(scan(log).frames), fr.body))  # forged position, checksum recomputed
    await refused(built, key, "fails authentication")


async def test_spliced_frame_from_another_store_is_refused(built, tmp_path, key, rng):
    other = tmp_path / "other"
    s = await opened(other, key)   # same key, different store
    for i in range(8):
        await s.create_user(f"o{i}", [unit(rng, DIM)])
    await s.close()
    log, foreign = file_of(built, "log"), file_of(other, "log")
    n = len(scan(log).frames)
    with open(log, "ab") as f:
        f.write(frame_bytes(foreign, n))   # the right sequence number, the wrong file
    await refused(built, key, "fails authentication")


async def test_dropped_and_reordered_frames_are_refused(built, tmp_path, key):
    log = file_of(built, "log")
    data, frames = log.read_bytes(), scan(log).frames
    dropped = tmp_path / "dropped"
    shutil.copytree(built, dropped)
    (dropped / log.name).write_bytes(data[:frames[1].offset] + data[frames[1].end:])
    await refused(dropped, key, "frames 1-1 are missing")
    swapped = tmp_path / "swapped"
    shutil.copytree(built, swapped)
    a, b = frames[1], frames[2]
    (swapped / log.name).write_bytes(data[:a.offset] + data[b.offset:b.end] + data[a.offset:a.end] + data[b.end:])
    await refused(swapped, key, "missing|repeats")


async def test_snapshot_cut_at_a_frame_boundary_is_refused(built, key):
    snap = file_of(built, "snapshot")
    last = scan(snap).frames[-1]
    snap.write_bytes(snap.read_bytes()[:last.offset])  # the end marker dropped
    await refused(built, key, "end marker is missing")


async def test_backup_damage_refused_by_place_and_salvaged(tmp_path, key, rng):
    cipher = Cipher(parse_key(key, "k"))
    src = await opened(tmp_path / "src", key)
    for i in range(5):
        await src.create_user(f"b{i}", [unit(rng, DIM)])
    path = tmp_path / "vp.backup"
    await backup(src, path, cipher)
    await src.close()
    frames = scan(path).frames
    for offset in range(0, path.stat().st_size, 2):   # every region: header, entries, end marker
        bad = tmp_path / f"bad{offset}"
        shutil.copy(path, bad)
        flip(bad, offset)
        with pytest.raises(CorruptData) as exc:
            read_backup(bad, cipher)
        assert named_range(str(exc.value), bad, offset), (offset, str(exc.value))
    bad = tmp_path / "bad-middle"
    shutil.copy(path, bad)
    flip(bad, frames[2].offset + 30)
    report = repair_backup(bad, tmp_path / "salvaged", cipher)
    assert "4 users kept, 1 of 5 users lost" in report.lines[0]
    assert len(read_backup(tmp_path / "salvaged", cipher).entries) == 4
    spliced = tmp_path / "spliced"
    data = path.read_bytes()
    spliced.write_bytes(data[:frames[1].offset] + data[frames[3].offset:frames[3].end]
                        + data[frames[2].offset:])    # frame 3 placed where frame 1 was
    with pytest.raises(CorruptData):
        read_backup(spliced, cipher)
