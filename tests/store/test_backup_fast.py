"""Fast unit tests of store.backup on real memory stores (milliseconds): restored vectors equal the ones the test
kept (never re-read from the source), erased users stay erased, and a truncated, spliced, padded, legacy or
foreign backup is refused with what is wrong. Part of the mutation check (scripts/mutation.sh); test_backup.py
migrates between every backend."""
from __future__ import annotations

import json
import logging
import struct
import zlib

import numpy as np
import pytest

from store.backup import backup, read_backup, restore
from store.config import StorageConfig
from store.container import new_header, position_aad
from store.crypto import Cipher
from store.errors import CorruptData, InvalidRequest, StoreConfigError
from store.factory import create_store
from store.framing import encode_frame, encode_header, scan
from store.records import UserRecord, encode_delete, encode_end

pytestmark = pytest.mark.asyncio(loop_scope="session")
DIM = 6
CIPHER = Cipher(bytes(range(32)))


@pytest.fixture
async def open_store():
    opened = []

    async def make():
        s = create_store(StorageConfig.from_dict({"type": "memory"}))
        await s.open()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


async def populate(store, n: int, rng) -> dict[str, dict]:
    """n users with one or two random vectors each; returns what the test keeps of them, by user id."""
    kept = {}
    for i in range(n):
        vectors = [rng.standard_normal(DIM).astype(np.float32) for _ in range(1 + i % 2)]
        user = await store.create_user(f"user-{i}", vectors[:1], metadata={"i": i})
        for v in vectors[1:]:
            user = await store.add_enrollment(user.user_id, v)
        kept[user.user_id] = {"name": user.name, "metadata": {"i": i}, "created_at": user.created_at,
                              "updated_at": user.updated_at, "vectors": np.stack(vectors)}
    return kept


async def assert_holds_exactly(store, kept: dict[str, dict]) -> None:
    records = {r.user_id: r async for r in store.export_records()}
    assert list(records) == list(kept)   # same users, same (creation) order
    for uid, want in kept.items():
        r = records[uid]
        assert (r.name, r.metadata, r.created_at, r.updated_at) == \
            (want["name"], want["metadata"], want["created_at"], want["updated_at"])
        np.testing.assert_array_equal(r.embeddings, want["vectors"])


@pytest.fixture
def rng():
    return np.random.default_rng(15)


async def test_restore_brings_back_the_very_vectors(open_store, rng, tmp_path, caplog):
    src = await open_store()
    kept = await populate(src, 5, rng)
    path = tmp_path / "vp.backup"
    caplog.set_level(logging.INFO, logger="store.backup")
    assert await backup(src, path, CIPHER) == 5
    assert not (tmp_path / "vp.backup.tmp").exists() and b"user-1" not in path.read_bytes()
    dst = await open_store()
    result = await restore(dst, path, CIPHER, key_source=src)
    assert (result.restored, result.skipped_erased) == (5, 0)
    await assert_holds_exactly(dst, kept)
    query = kept[list(kept)[3]]["vectors"][0]
    assert [m.user_id for m in await dst.search(query, k=1)] == [list(kept)[3]]
    assert [r.getMessage() for r in caplog.records if r.name == "store.backup"] == [
        f"backup of 5 users (dim {DIM}) from memory written to {path}",
        "restored 5 users into memory; skipped 0 whose data key is gone (erased since the backup)"]


async def test_the_backup_names_its_source_and_ends_with_its_count(open_store, rng, tmp_path):
    src = await open_store()
    kept = await populate(src, 3, rng)
    path = tmp_path / "b"
    await backup(src, path, CIPHER)
    sc = scan(path)
    assert (sc.header["kind"], sc.header["source"], sc.header["key_id"]) == ("backup", "memory", CIPHER.key_id)
    assert [f.seq for f in sc.frames] == [0, 1, 2, 3]
    contents = read_backup(path, CIPHER)
    assert [uid for uid, _ in contents.entries] == list(kept) and contents.legacy_records == []


async def test_an_empty_store_backs_up_and_restores_nothing(open_store, tmp_path):
    path = tmp_path / "empty"
    assert await backup(await open_store(), path, CIPHER) == 0
    assert read_backup(path, CIPHER).entries == []
    result = await restore(await open_store(), path, CIPHER)
    assert (result.restored, result.skipped_erased) == (0, 0)


async def test_users_erased_since_the_backup_stay_erased(open_store, rng, tmp_path):
    src = await open_store()
    kept = await populate(src, 4, rng)
    ids = list(kept)
    path = tmp_path / "b"
    await backup(src, path, CIPHER)
    await src.delete_user(ids[1])
    # Deleted and enrolled again under the same id: a new data key, so the old entry is not this user.
    await src.delete_user(ids[2])
    await src.create_user("new-2", [np.ones(DIM, dtype=np.float32)], user_id=ids[2])
    dst = await open_store()
    result = await restore(dst, path, CIPHER, key_source=src)
    assert (result.restored, result.skipped_erased) == (2, 2)
    await assert_holds_exactly(dst, {uid: kept[uid] for uid in (ids[0], ids[3])})


async def test_restore_asks_the_target_for_keys_by_default_and_merges(open_store, rng, tmp_path):
    src = await open_store()
    kept = await populate(src, 3, rng)
    path = tmp_path / "b"
    await backup(src, path, CIPHER)
    empty = await open_store()
    assert (await restore(empty, path, CIPHER)).skipped_erased == 3   # an empty target holds none of their keys
    with pytest.raises(InvalidRequest) as err:
        await restore(src, path, CIPHER)
    assert str(err.value) == "the target store is not empty (pass merge to upsert into it)"
    one = await open_store()
    await one.create_user("only", [np.ones(DIM, dtype=np.float32)])
    with pytest.raises(InvalidRequest):
        await restore(one, path, CIPHER, key_source=src)   # a single user already makes it not empty
    uid = list(kept)[0]
    await src.add_enrollment(uid, np.ones(DIM, dtype=np.float32))   # changed since the backup: the backup wins
    result = await restore(src, path, CIPHER, merge=True)
    assert (result.restored, result.skipped_erased) == (3, 0)
    await assert_holds_exactly(src, kept)


def write_backup(path, plaintexts: list[bytes], kind: str = "backup") -> None:
    """A sealed container written with the store's own primitives, holding exactly these operations."""
    header = new_header(kind, 0, CIPHER, source="test")
    with open(path, "wb") as f:
        f.write(encode_header(header))
        for n, p in enumerate(plaintexts):
            f.write(encode_frame(n, CIPHER.encrypt(p, position_aad(header, n))))


async def entries_of(open_store, rng, tmp_path, n: int) -> list[bytes]:
    src = await open_store()
    await populate(src, n, rng)
    path = tmp_path / "source.backup"
    await backup(src, path, CIPHER)
    from store.container import read_sealed
    return read_sealed(path, CIPHER, "backup").plaintexts[:-1]


@pytest.mark.parametrize("shape", ["no end", "end counts one more", "end counts one less", "end only lies",
                                   "a delete inside", "nothing at all", "end before an entry"])
async def test_backups_without_a_true_end_marker_are_refused(open_store, rng, tmp_path, shape):
    entries = await entries_of(open_store, rng, tmp_path, 2)
    ops = {"no end": entries, "end counts one more": entries + [encode_end(3)],
           "end counts one less": entries + [encode_end(1)], "end only lies": [encode_end(2)],
           "a delete inside": [entries[0], encode_delete("x"), entries[1], encode_end(2)],
           "nothing at all": [], "end before an entry": [entries[0], encode_end(1), entries[1]]}[shape]
    path = tmp_path / "cut.backup"
    write_backup(path, ops)
    with pytest.raises(CorruptData) as err:
        read_backup(path, CIPHER)
    assert str(err.value) == f"{path}: backup is incomplete (its end marker is missing or wrong: truncated)"


async def test_a_backup_cut_at_a_frame_boundary_is_refused(open_store, rng, tmp_path):
    src = await open_store()
    await populate(src, 3, rng)
    path = tmp_path / "b"
    await backup(src, path, CIPHER)
    path.write_bytes(path.read_bytes()[:scan(path).frames[-1].offset])   # every frame intact, the end gone
    with pytest.raises(CorruptData, match="backup is incomplete"):
        read_backup(path, CIPHER)


async def test_a_spliced_backup_is_refused(open_store, rng, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    src = await open_store()
    await populate(src, 2, rng)
    await backup(src, a, CIPHER)
    await backup(src, b, CIPHER)
    frame_a, frame_b = scan(a).frames[1], scan(b).frames[1]
    data = a.read_bytes()
    spliced = data[:frame_a.offset] + b.read_bytes()[frame_b.offset:frame_b.end] + data[frame_a.end:]
    a.write_bytes(spliced)
    with pytest.raises(CorruptData, match="fails authentication"):
        read_backup(a, CIPHER)


async def test_a_backup_under_another_key_or_of_another_kind(open_store, rng, tmp_path):
    path = tmp_path / "b"
    await backup(await open_store(), path, CIPHER)
    with pytest.raises(StoreConfigError, match="wrong key"):
        read_backup(path, Cipher(bytes(32)))
    snapshot = tmp_path / "snapshot"
    write_backup(snapshot, [encode_end(0)], kind="snapshot")
    with pytest.raises(CorruptData, match="header says kind 'snapshot'"):
        read_backup(snapshot, CIPHER)


def write_v1(path, kind: str, payloads: list[bytes], tail: bytes = b"") -> None:
    """A version 1 file as the previous release wrote it (see test_file_backend.write_v1)."""
    head = json.dumps({"kind": kind, "key_id": CIPHER.key_id, "dim": DIM}).encode()
    out = b"VOMIDv1\n" + struct.pack("<I", len(head)) + head
    for p in payloads:
        blob = CIPHER.encrypt(p, b"vomid-op-v1")
        out += struct.pack("<II", len(blob), zlib.crc32(blob)) + blob
    path.write_bytes(out + tail)


def v1_record(i: int) -> UserRecord:
    return UserRecord(f"v{i}", f"old-{i}", {"v": 1}, 1.0 + i, 2.0 + i, np.full((1, DIM), i + 1, np.float32))


async def test_version_1_backups_restore_only_when_asked(open_store, tmp_path):
    path = tmp_path / "old.backup"
    write_v1(path, "backup", [b"P" + v1_record(0).to_bytes(), b"P" + v1_record(1).to_bytes(), encode_end(2)])
    contents = read_backup(path, CIPHER)
    assert contents.entries == [] and [r.user_id for r in contents.legacy_records] == ["v0", "v1"]
    dst = await open_store()
    with pytest.raises(InvalidRequest) as err:
        await restore(dst, path, CIPHER)
    assert str(err.value) == (f"{path} is a version 1 backup: it predates per-user keys, so users deleted since "
                              "it was taken cannot be told apart; pass allow_legacy (--legacy-backup) to restore "
                              "it anyway")
    assert await dst.count() == 0
    result = await restore(dst, path, CIPHER, allow_legacy=True)
    assert (result.restored, result.skipped_erased) == (2, 0)
    records = [r async for r in dst.export_records()]
    assert [(r.user_id, r.name, r.created_at) for r in records] == [("v0", "old-0", 1.0), ("v1", "old-1", 2.0)]
    np.testing.assert_array_equal(records[1].embeddings, np.full((1, DIM), 2, np.float32))


async def test_damaged_or_foreign_version_1_files_are_refused(tmp_path):
    torn, snapshot = tmp_path / "torn", tmp_path / "snapshot"
    write_v1(torn, "backup", [b"P" + v1_record(0).to_bytes(), encode_end(1)], tail=b"\x01\x02\x03")
    with pytest.raises(CorruptData, match="backup is incomplete"):
        read_backup(torn, CIPHER)
    write_v1(snapshot, "snapshot", [encode_end(0)])
    with pytest.raises(CorruptData) as err:
        read_backup(snapshot, CIPHER)
    assert str(err.value) == f"{snapshot}: not a backup file (kind 'snapshot')"


async def test_a_version_1_backup_larger_than_one_chunk(open_store, tmp_path):
    path = tmp_path / "big-old.backup"
    write_v1(path, "backup", [b"P" + v1_record(i).to_bytes() for i in range(1001)] + [encode_end(1001)])
    dst = await open_store()
    result = await restore(dst, path, CIPHER, allow_legacy=True)
    assert (result.restored, result.skipped_erased) == (1001, 0)
    assert await dst.count() == 1001
