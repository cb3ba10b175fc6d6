"""Key rotation that tells the truth: a failure (full disk, SIGKILL) at every step leaves a store that opens
with every acknowledged write, under the old key before the commit and the new key after it, and an exit
code that says which. Redis rotates online: replicas keep serving and reading under either key."""
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.config import StorageConfig
from store.crypto import Cipher, generate_key, parse_key
from store.errors import StoreConfigError
from store.factory import create_store

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
DIM = 16


def file_cfg(path, key, old=()) -> StorageConfig:
    return StorageConfig.from_dict({"type": "file", "path": str(path), "encryption_key": key,
                                    "encryption_old_keys": list(old)})


async def seed(config, rng, n: int = 6) -> dict:
    """Acknowledged writes: users created, one enrolled again, one deleted; returns {id: enrollments}."""
    async with create_store(config) as s:
        users = [await s.create_user(f"r{i}", [unit(rng, DIM)]) for i in range(n)]
        await s.add_enrollment(users[0].user_id, unit(rng, DIM))
        await s.delete_user(users[1].user_id)
        return {u.user_id: (2 if u is users[0] else 1) for u in users if u is not users[1]}


async def contents(config) -> dict:
    async with create_store(config) as s:
        return {u.user_id: u.enrollments for u in (await s.list_users(limit=1000)).items}


def rotate_cli(sets: list[str], new_key_file: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if fault:
        env["STORE_FAULT_INJECT"] = fault
    args = [sys.executable, "-m", "store", "rotate-key", *sets, "--new-key-file", str(new_key_file)]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def sets_of(d: dict) -> list[str]:
    return [a for k, v in d.items() for a in ("--set", f"{k}={v}")]


# (fault point, action) -> (exit code, key that opens the store afterwards)
FILE_CASES = {
    ("rotate.log-prepared", "enospc"): (1, "old"), ("rotate.log-prepared", "kill"): (-9, "old"),
    ("rotate.snapshot-written", "enospc"): (1, "old"), ("rotate.snapshot-written", "kill"): (-9, "old"),
    ("rotate.committed", "enospc"): (3, "new"), ("rotate.committed", "kill"): (-9, "new"),
    ("rotate.cleanup", "enospc"): (0, "new"), ("rotate.cleanup", "kill"): (-9, "new"),
}


@pytest.mark.parametrize("point, action", list(FILE_CASES))
async def test_file_rotation_fails_safe_at_every_step(tmp_path, key, rng, point, action):
    new_key = generate_key()
    (tmp_path / "new.key").write_text(new_key)
    path = tmp_path / "store"
    acked = await seed(file_cfg(path, key), rng)
    proc = rotate_cli(sets_of({"type": "file", "path": path, "encryption_key": key}), tmp_path / "new.key",
                      f"{point}:{action}")
    want_rc, opens_with = FILE_CASES[(point, action)]
    assert proc.returncode == want_rc, proc.stderr
    if want_rc == 3:
        assert "committed" in proc.stderr
    good, bad = (key, new_key) if opens_with == "old" else (new_key, key)
    assert await contents(file_cfg(path, good)) == acked
    with pytest.raises(StoreConfigError, match="wrong key"):
        await contents(file_cfg(path, bad))
    if opens_with == "old":   # a clean run afterwards finishes the job
        assert rotate_cli(sets_of({"type": "file", "path": path, "encryption_key": key}),
                          tmp_path / "new.key").returncode == 0
        assert await contents(file_cfg(path, new_key)) == acked


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem (tmpfs), to run out of space for real; skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


async def test_rotation_on_a_really_full_disk_keeps_the_old_key(small_disk, tmp_path, key, rng):
    path = small_disk / "store"
    config = StorageConfig.from_dict({"type": "file", "path": str(path), "encryption_key": key,
                                      "snapshot_every": 100_000})
    acked = {}
    async with create_store(config) as s:
        while sum(f.stat().st_size for f in path.iterdir()) < 600_000:   # the rewrite cannot fit any more
            u = await s.create_user("full", [unit(rng, 256)])
            acked[u.user_id] = 1
    new_key = generate_key()
    (tmp_path / "new.key").write_text(new_key)
    proc = rotate_cli(sets_of({"type": "file", "path": path, "encryption_key": key}), tmp_path / "new.key")
    assert proc.returncode == 1 and "No space left on device" in proc.stderr
    assert not list(path.glob("*.tmp"))   # the partial snapshot is gone again
    assert await contents(config) == acked
    with pytest.raises(StoreConfigError, match="wrong key"):
        await contents(file_cfg(path, new_key))


# --- redis ------------------------------------------------------------------------------------
def redis_cfg(server, prefix, key, old=()) -> StorageConfig:
    return StorageConfig.from_dict({"type": "redis", "redis_url": server.url, "redis_prefix": prefix,
                                    "encryption_key": key, "encryption_old_keys": list(old)})


def wrap_ids(server, prefix) -> set[tuple[str, ...]]:
    from store.datakeys import wrap_key_ids
    c = server.client()
    out = {tuple(wrap_key_ids(c.hget(f"{prefix}:u:{u.decode()}", "k"))) for u in c.zrange(f"{prefix}:users", 0, -1)}
    c.close()
    return out


def kid(key: str) -> str:
    return Cipher(parse_key(key, "k")).key_id


REDIS_CASES = {("rotate.redis.chunk", "enospc"): (1, "old"), ("rotate.redis.chunk", "kill"): (-9, "old"),
               ("rotate.redis.added", "enospc"): (1, "old"), ("rotate.redis.added", "kill"): (-9, "old"),
               ("rotate.redis.committed", "enospc"): (3, "new"), ("rotate.redis.committed", "kill"): (-9, "new")}


@pytest.mark.parametrize("point, action", list(REDIS_CASES))
async def test_redis_rotation_fails_safe_at_every_step(redis_server, redis_prefix, tmp_path, key, rng, point, action):
    new_key = generate_key()
    (tmp_path / "new.key").write_text(new_key)
    acked = await seed(redis_cfg(redis_server, redis_prefix, key), rng)
    settings = {"type": "redis", "redis_url": redis_server.url, "redis_prefix": redis_prefix}
    proc = rotate_cli(sets_of({**settings, "encryption_key": key}), tmp_path / "new.key", f"{point}:{action}")
    want_rc, opens_with = REDIS_CASES[(point, action)]
    assert proc.returncode == want_rc, proc.stderr
    if opens_with == "old":
        assert await contents(redis_cfg(redis_server, redis_prefix, key)) == acked   # the old key alone
        with pytest.raises(StoreConfigError, match="wrong key"):
            await contents(redis_cfg(redis_server, redis_prefix, new_key))
        rerun = sets_of({**settings, "encryption_key": key})
    else:
        assert await contents(redis_cfg(redis_server, redis_prefix, new_key)) == acked  # the new key alone
        with pytest.raises(StoreConfigError, match="wrong key"):
            await contents(redis_cfg(redis_server, redis_prefix, key))
        rerun = sets_of({**settings, "encryption_key": new_key, "encryption_old_keys": key})
    finish = rotate_cli(rerun, tmp_path / "new.key")
    assert finish.returncode == 0 and "can be destroyed" in finish.stdout, finish.stderr
    assert wrap_ids(redis_server, redis_prefix) == {(kid(new_key),)}
    assert await contents(redis_cfg(redis_server, redis_prefix, new_key)) == acked


async def test_redis_rotation_is_online(redis_server, redis_prefix, key, rng):
    new_key = generate_key()
    stage1 = redis_cfg(redis_server, redis_prefix, key, old=[new_key])     # routers read the new key
    a, b = create_store(stage1), create_store(stage1)
    await a.open()
    await b.open()
    made = [(await a.create_user(f"o{i}", [unit(rng, DIM)])).user_id for i in range(40)]
    stop, reads = asyncio.Event(), [0]

    async def serve():   # routers keep writing and reading while the rotation runs
        i = 0
        while not stop.is_set():
            made.append((await a.create_user(f"w{i}", [unit(rng, DIM)])).user_id)
            assert (await b.get_user(made[i % len(made)])).name
            reads[0] += 1
            i += 1

    task = asyncio.create_task(serve())
    admin = create_store(redis_cfg(redis_server, redis_prefix, key))
    admin.announce = False
    await admin.open()
    from store.errors import RotationIncomplete
    with pytest.raises(RotationIncomplete, match="still in use"):   # a and b still write with the old key
        await admin.rotate_key(Cipher(parse_key(new_key, "k")))
    stop.set()
    await task
    await admin.close()
    assert reads[0] > 0
    for s in (a, b):
        await s.close()
    stage2 = redis_cfg(redis_server, redis_prefix, new_key, old=[key])     # routers now write with the new key
    a = create_store(stage2)
    await a.open()
    admin = create_store(stage2)
    admin.announce = False
    await admin.open()
    assert await admin.rotate_key(Cipher(parse_key(new_key, "k"))) == len(made)
    await admin.close()
    await a.close()
    assert wrap_ids(redis_server, redis_prefix) == {(kid(new_key),)}
    assert set(await contents(redis_cfg(redis_server, redis_prefix, new_key))) == set(made)
    with pytest.raises(StoreConfigError, match="wrong key"):
        await contents(redis_cfg(redis_server, redis_prefix, key))
