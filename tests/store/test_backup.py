"""Backup/restore across backends (memory/file -> redis migration) and damaged backups."""
import pytest

from store.backup import backup, read_backup, restore
from store.config import StorageConfig
from store.crypto import Cipher, generate_key, parse_key
from store.errors import CorruptData, InvalidRequest, StoreConfigError
from store.factory import create_store

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 24


@pytest.fixture
def cipher(key):
    return Cipher(parse_key(key, "k"))


async def open_store(**d):
    s = create_store(StorageConfig.from_dict(d))
    await s.open()
    return s


@pytest.mark.parametrize("source, target", [("memory", "redis"), ("file", "redis"), ("redis", "file"),
                                            ("file", "postgres"), ("postgres", "redis")])
async def test_migrate_between_backends(source, target, tmp_path, key, cipher, rng, request):
    def settings(kind, n):
        d = {"type": kind, "encryption_key": key, "path": str(tmp_path / f"s{n}")}
        if kind == "redis":
            d.update(redis_url=request.getfixturevalue("redis_server").url,
                     redis_prefix=f"{request.getfixturevalue('redis_prefix')}b{n}")
        if kind == "postgres":
            d.update(request.getfixturevalue("pg_server").settings(f"{request.getfixturevalue('pg_prefix')}x{n}"))
        return d

    src = await open_store(**settings(source, 0))
    users = [await src.create_user(f"member-name-{i}", [unit(rng, DIM), unit(rng, DIM)], metadata={"i": i})
             for i in range(30)]
    await src.delete_user(users[5].user_id)
    path = tmp_path / "vp.backup"
    assert await backup(src, path, cipher) == 29
    assert b"member-name-7" not in path.read_bytes()  # encrypted
    dst = await open_store(**settings(target, 1))
    assert (await restore(dst, path, cipher)).restored == 0   # the empty target holds none of their keys
    result = await restore(dst, path, cipher, key_source=src)
    assert (result.restored, result.skipped_erased) == (29, 0)
    await src.close()
    assert [u.user_id for u in (await dst.list_users(limit=100)).items] == \
        [u.user_id for u in users if u.user_id != users[5].user_id]
    got = await dst.get_user(users[7].user_id)
    assert (got.name, got.metadata, got.created_at, got.enrollments) == ("member-name-7", {"i": 7}, users[7].created_at, 2)
    with pytest.raises(InvalidRequest):
        await restore(dst, path, cipher)  # not empty any more
    assert (await restore(dst, path, cipher, merge=True)).restored == 29   # the target now holds the keys
    assert await dst.count() == 29
    await dst.close()


async def test_damaged_or_wrong_key_backup_refused(tmp_path, cipher, rng):
    src = await open_store(type="memory")
    for i in range(3):
        await src.create_user(f"d{i}", [unit(rng, DIM)])
    path = tmp_path / "b"
    await backup(src, path, cipher)
    assert len(read_backup(path, cipher).entries) == 3
    with pytest.raises(StoreConfigError, match="wrong key"):
        read_backup(path, Cipher(parse_key(generate_key(), "k")))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(CorruptData, match=r"bytes \d+-\d+: damaged"):
        read_backup(path, cipher)
