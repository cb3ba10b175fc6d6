"""File backend: recovery, torn tails, compaction and erasure, keys, and a kill -9 crash test."""
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from store.config import StorageConfig
from store.crypto import Cipher, generate_key, parse_key
from store.errors import UserNotFound, StoreConfigError
from store.factory import create_store
from store.container import inspect
from store.records import decode_op

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[2]
DIM = 32


def cfg(path, key, **kw) -> StorageConfig:
    return StorageConfig.from_dict({"type": "file", "path": str(path), "encryption_key": key, **kw})


async def opened(path, key, **kw):
    s = create_store(cfg(path, key, **kw))
    await s.open()
    return s


async def test_reopen_recovers_users_and_index(tmp_path, key, rng):
    s = await opened(tmp_path, key)
    v = unit(rng, DIM)
    u = await s.create_user("a", [v], metadata={"k": 1})
    await s.add_enrollment(u.user_id, unit(rng, DIM))
    gone = await s.create_user("b", [unit(rng, DIM)])
    await s.delete_user(gone.user_id)
    await s.close()
    s = await opened(tmp_path, key)
    assert await s.count() == 1
    assert (await s.get_user(u.user_id)).enrollments == 2
    assert (await s.search(v, 1))[0].user_id == u.user_id
    await s.close()


async def test_torn_tail_is_cut_and_later_writes_survive(tmp_path, key, rng):
    s = await opened(tmp_path, key)
    u = await s.create_user("a", [unit(rng, DIM)])
    await s.close()
    log = next(tmp_path.glob("log-*.bin"))
    with open(log, "ab") as f:
        f.write(b"\x40\x00\x00\x00\x12\x34")  # a frame header with no body: a write cut by a crash
    s = await opened(tmp_path, key)
    v = await s.create_user("b", [unit(rng, DIM)])
    await s.close()
    s = await opened(tmp_path, key)
    assert {x.user_id for x in (await s.list_users()).items} == {u.user_id, v.user_id}
    await s.close()


async def test_wrong_missing_key_and_lock(tmp_path, key, rng, monkeypatch):
    s = await opened(tmp_path, key)
    await s.create_user("a", [unit(rng, DIM)])
    with pytest.raises(StoreConfigError, match="in use"):
        await opened(tmp_path, key)
    await s.close()
    with pytest.raises(StoreConfigError, match="wrong key"):
        await opened(tmp_path, generate_key())
    monkeypatch.delenv("VOIMID_ENCRYPTION_KEY", raising=False)
    with pytest.raises(StoreConfigError, match="storage.encryption_key"):
        create_store(StorageConfig(type="file", path=str(tmp_path)))


def ops_on_disk(path: Path, key: str) -> list:
    cipher = Cipher(parse_key(key, "k"))
    out = []
    for f in sorted(path.glob("*.bin")):
        out += [decode_op(p) for p in inspect(f, cipher).plaintexts]
    return out


async def test_compaction_and_erasure_from_disk(tmp_path, key, rng):
    s = await opened(tmp_path, key, snapshot_every=5)
    users = [await s.create_user(f"u{i}-victim" if i == 4 else f"u{i}", [unit(rng, DIM)]) for i in range(12)]
    victim, second = users[4].user_id, users[9].user_id
    await s.delete_user(victim)
    await s.delete_user(second)  # lands while the first deletion's snapshot may still be written
    await s.settle()
    assert list(tmp_path.glob("snapshot-*.bin"))
    on_disk = ops_on_disk(tmp_path, key)
    assert all((op == "put" and rec.user_id not in (victim, second)) or op in ("end", "close")
               for op, rec in on_disk)
    assert all(b"u4-victim" not in f.read_bytes() for f in tmp_path.glob("*.bin"))  # names are encrypted too
    await s.close()
    s = await opened(tmp_path, key)
    assert await s.count() == 10
    await s.close()


async def test_rotate_key(tmp_path, key, rng):
    s = await opened(tmp_path, key)
    u = await s.create_user("a", [unit(rng, DIM)])
    new_key = generate_key()
    assert await s.rotate_key(Cipher(parse_key(new_key, "k"))) == 1
    await s.close()
    with pytest.raises(StoreConfigError):
        await opened(tmp_path, key)
    s = await opened(tmp_path, new_key)
    assert (await s.get_user(u.user_id)).name == "a"
    await s.close()


CHILD = """
import asyncio, sys
import numpy as np
from store.config import StorageConfig
from store.factory import create_store

async def main():
    s = create_store(StorageConfig(type="file", path=sys.argv[1], encryption_key=sys.argv[2], snapshot_every=25))
    await s.open()
    rng = np.random.default_rng(int(sys.argv[3]))
    i = 0
    while True:
        u = await s.create_user(f"c{i}", [rng.standard_normal(32).astype(np.float32)])
        print("U", u.user_id, flush=True)          # printed only after the write was acknowledged
        if i % 3 == 0:
            await s.add_enrollment(u.user_id, rng.standard_normal(32).astype(np.float32))
            print("E", u.user_id, flush=True)
        if i % 7 == 0:
            await s.delete_user(u.user_id)
            print("D", u.user_id, flush=True)
        i += 1

asyncio.run(main())
"""


def run_and_kill(path: Path, key: str, seed: int, acks: int) -> list[tuple[str, str]]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), key, str(seed)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(tuple(line.split()))
            if len(lines) >= acks:
                break
        os.kill(proc.pid, signal.SIGKILL)
        # Read the rest through the same text stream: communicate() reads the raw pipe and would drop lines this
        # loop had already buffered (acknowledged writes that would then look unacknowledged).
        rest = proc.stdout.read()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(lines) >= acks, f"child died early: {proc.stderr.read() if proc.stderr else ''}"
    # Lines still in the pipe were printed before the kill, so they were acknowledged too.
    return lines + [tuple(x.split()) for x in rest.splitlines() if x.strip()]


async def test_kill_9_loses_no_acknowledged_write(tmp_path, key):
    """Each round kills a writer mid-stream: every acknowledged write survives, every acknowledged delete stays
    deleted, and at most the one operation in flight at the kill (a create, or an enroll/delete of the last user
    acknowledged) landed without its acknowledgement."""
    expected: dict[str, int] = {}
    deleted: set[str] = set()
    unacknowledged: set[str] = set()
    for round_, acks in enumerate((60, 97, 133)):  # kill points that land in writes and compactions
        lines = run_and_kill(tmp_path, key, round_, acks)
        for op, uid in lines:
            if op == "U":
                expected[uid] = 1
            elif op == "E":
                expected[uid] += 1
            else:
                expected.pop(uid)
                deleted.add(uid)
        last = lines[-1][1]
        s = await opened(tmp_path, key)
        present = {u.user_id: u.enrollments for u in (await s.list_users(limit=1000)).items}
        for uid, n in expected.items():
            if uid != last:
                assert present.get(uid) == n, (uid, n, present.get(uid))
        for uid in deleted:
            with pytest.raises(UserNotFound):
                await s.get_user(uid)
        # The one operation in flight: the next create, or the last user's next enroll or delete.
        last_changed = last in expected and present.get(last) != expected[last]
        if last_changed:
            assert present.get(last) in (None, expected[last] + 1), (last, present.get(last))
        new = set(present) - set(expected) - unacknowledged
        assert len(new) + last_changed <= 1, (new, last_changed)
        unacknowledged |= new
        if last_changed and present.get(last) is None:
            expected.pop(last)  # its delete landed unacknowledged: gone for the next rounds too
        elif last_changed:
            expected[last] += 1
        await s.close()


def write_v1(path: Path, kind: str, key: str, payloads: list[bytes]) -> None:
    """A version 1 file as the previous release wrote it (constant associated data, no sync markers)."""
    import json
    import struct
    import zlib
    cipher = Cipher(parse_key(key, "k"))
    head = json.dumps({"kind": kind, "key_id": cipher.key_id, "dim": DIM}).encode()
    out = b"VOMIDv1\n" + struct.pack("<I", len(head)) + head
    for p in payloads:
        blob = cipher.encrypt(p, b"vomid-op-v1")
        out += struct.pack("<II", len(blob), zlib.crc32(blob)) + blob
    path.write_bytes(out)


async def test_version_1_store_and_backup_are_read_then_rewritten(tmp_path, key, rng):
    from store.backup import read_backup
    from store.framing import MAGIC
    from store.records import UserRecord, encode_delete, encode_end

    def encode_put(r):   # version 1: no data key
        return b"P" + r.to_bytes()
    recs = [UserRecord(f"v{i}", f"name{i}", {}, 1.0 + i, 1.0 + i, unit(rng, DIM)[None, :]) for i in range(3)]
    d = tmp_path / "v1"
    d.mkdir()
    write_v1(d / "snapshot-1.bin", "snapshot", key, [encode_put(recs[0]), encode_put(recs[1])])
    write_v1(d / "log-1.bin", "log", key, [encode_put(recs[2]), encode_delete("v1")])
    s = await opened(d, key)
    assert [u.user_id for u in (await s.list_users()).items] == ["v0", "v2"]
    await s.close()
    assert all(f.read_bytes().startswith(MAGIC) for f in d.glob("*.bin"))  # rewritten as version 2
    s = await opened(d, key)
    assert await s.count() == 2
    await s.close()
    write_v1(tmp_path / "old.backup", "backup", key, [encode_put(recs[1]), encode_end(1)])
    assert [r.user_id for r in read_backup(tmp_path / "old.backup", Cipher(parse_key(key, "k"))).legacy_records] == ["v1"]


async def test_rotation_waits_for_compactions_without_deadlock(tmp_path, key, rng):
    s = await opened(tmp_path, key)
    users = [await s.create_user(f"d{i}", [unit(rng, DIM)]) for i in range(20)]
    new_key = generate_key()
    deletes = [s.delete_user(u.user_id) for u in users[:10]]   # compactions and their second passes
    results = await asyncio.wait_for(asyncio.gather(*deletes, s.rotate_key(Cipher(parse_key(new_key, "k")))),
                                     timeout=60)
    assert 10 <= results[-1] <= 20
    await s.close()
    s = await opened(tmp_path, new_key)   # every deletion, before or after the rotation, under the new key
    assert {u.user_id for u in (await s.list_users()).items} == {u.user_id for u in users[10:]}
    await s.close()
