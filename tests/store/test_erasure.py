"""Crypto-shredding: a backup taken before a delete, restored after it, does not bring the user back
(for every backend pair); Redis records cannot be replayed, moved to another user or spliced."""
import pytest

from store.backup import backup, restore
from store.config import StorageConfig
from store.crypto import Cipher, parse_key
from store.errors import CorruptData
from store.factory import create_store

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 16
BACKENDS = ["memory", "file", "redis", "postgres"]


@pytest.fixture
async def open_kind(tmp_path, key, request):
    opened = []

    async def open_store(kind: str, n: int):
        d = {"type": kind, "encryption_key": key, "path": str(tmp_path / f"s{n}")}
        if kind == "redis":
            d.update(redis_url=request.getfixturevalue("redis_server").url,
                     redis_prefix=f"{request.getfixturevalue('redis_prefix')}e{n}")
        if kind == "postgres":
            d.update(request.getfixturevalue("pg_server").settings(f"{request.getfixturevalue('pg_prefix')}x{n}"))
        s = create_store(StorageConfig.from_dict(d))
        await s.open()
        opened.append(s)
        return s

    yield open_store
    for s in opened:
        await s.close()


@pytest.mark.parametrize("target", BACKENDS)
@pytest.mark.parametrize("source", BACKENDS)
async def test_backup_delete_restore_keeps_the_user_erased(source, target, open_kind, tmp_path, key, rng):
    cipher = Cipher(parse_key(key, "k"))
    src = await open_kind(source, 0)
    users = [await src.create_user(f"e{i}", [unit(rng, DIM)], user_id=f"user-{i}") for i in range(5)]
    path = tmp_path / "before-delete.backup"
    assert await backup(src, path, cipher) == 5
    await src.delete_user("user-1")                       # erased after the backup
    await src.delete_user("user-2")                       # erased, then enrolled again under the same id
    again = await src.create_user("e2-new", [unit(rng, DIM)], user_id="user-2")
    dst = await open_kind(target, 1)
    result = await restore(dst, path, cipher, key_source=src)
    assert (result.restored, result.skipped_erased) == (3, 2)
    assert {u.user_id for u in (await dst.list_users()).items} == {"user-0", "user-3", "user-4"}
    got = await dst.get_user("user-3")
    assert (got.name, got.created_at) == ("e3", users[3].created_at)
    # Restoring into the store it came from (merge) brings nobody back and keeps the new user-2.
    again_result = await restore(src, path, cipher, merge=True)
    assert again_result.skipped_erased == 2
    assert {u.user_id for u in (await src.list_users()).items} == {"user-0", "user-2", "user-3", "user-4"}
    assert (await src.get_user("user-2")).name == again.name


async def test_redis_delete_destroys_record_and_wrapped_key(redis_server, redis_prefix, key, rng):
    s = create_store(StorageConfig.from_dict({"type": "redis", "redis_url": redis_server.url,
                                              "redis_prefix": redis_prefix, "encryption_key": key}))
    await s.open()
    try:
        u = await s.create_user("gone", [unit(rng, DIM)])
        c = redis_server.client()
        assert set(c.hkeys(f"{redis_prefix}:u:{u.user_id}")) >= {b"r", b"k", b"v"}
        await s.delete_user(u.user_id)
        assert not c.exists(f"{redis_prefix}:u:{u.user_id}")
        assert await s.data_keys([u.user_id]) == {}
        c.close()
    finally:
        await s.close()


@pytest.fixture
async def two_replicas(redis_server, redis_prefix, key):
    cfg = StorageConfig.from_dict({"type": "redis", "redis_url": redis_server.url, "redis_prefix": redis_prefix,
                                   "encryption_key": key})
    a, b = create_store(cfg), create_store(cfg)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_redis_replayed_or_moved_record_is_refused(two_replicas, redis_server, redis_prefix, rng):
    a, b = two_replicas
    u = await a.create_user("victim", [unit(rng, DIM)])
    other = await a.create_user("other", [unit(rng, DIM)])
    c = redis_server.client()
    key_u, key_o = f"{redis_prefix}:u:{u.user_id}", f"{redis_prefix}:u:{other.user_id}"
    old_blob = c.hget(key_u, "r")
    await a.add_enrollment(u.user_id, unit(rng, DIM))     # version 2
    c.hset(key_u, "r", old_blob)                          # replay version 1's record over version 2
    with pytest.raises(CorruptData):
        await a.get_user(u.user_id)
    c.hset(key_u, "v", 1)                                 # ... and the version with it: consistent rollback
    assert (await a.get_user(u.user_id)).enrollments == 1  # readable on its own, but a replica that applied
    c.xadd(f"{redis_prefix}:events", {"op": "put", "id": u.user_id, "v": 1})   # version 2 refuses it:
    await b._follower.wait_for(c.xinfo_stream(f"{redis_prefix}:events")["last-generated-id"].decode(), 5)
    assert "replayed" in b.quarantined[u.user_id]
    assert b.metrics.quarantined._value.get() >= 1
    c.hset(key_o, mapping={"r": c.hget(key_u, "r"), "k": c.hget(key_u, "k")})   # splice into another user
    with pytest.raises(CorruptData):
        await a.get_user(other.user_id)
    c.close()
