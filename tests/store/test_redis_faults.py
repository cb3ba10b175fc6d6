"""Redis faults with real redis-server processes: poisoned records, Redis restored from an older AOF,
SIGKILL right after acknowledged writes, and the durability modes."""
import asyncio
import shutil
import time

import numpy as np
import pytest

from store.config import StorageConfig
from store.crypto import Cipher, generate_key, parse_key
from store.datakeys import unwrap, wrap
from store.errors import StorageUnavailable, StoreConfigError
from store.factory import create_store

from .conftest import RedisServer, _need_redis, unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]
DIM = 16
AOF = ("--appendonly", "yes", "--appendfsync", "always")


def cfg(url, prefix, key, **kw) -> StorageConfig:
    return StorageConfig.from_dict({"type": "redis", "redis_url": url, "redis_prefix": prefix,
                                    "encryption_key": key, "redis_timeout_s": 1.0, **kw})


async def wait_until(predicate, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def delete_lag(a, b, rng) -> float:
    """Seconds from calling delete on a until b's view has dropped the user."""
    u = await a.create_user("lag", [unit(rng, DIM)])
    await wait_until(lambda: u.user_id in b._mirror.names)
    start = time.perf_counter()
    await a.delete_user(u.user_id)
    await wait_until(lambda: u.user_id not in b._mirror.names)
    return time.perf_counter() - start


async def test_poisoned_records_do_not_stop_deletes(redis_server, redis_prefix, key, rng):
    a, b = (create_store(cfg(redis_server.url, redis_prefix, key)) for _ in range(2))
    await a.open()
    await b.open()
    try:
        baseline = [await delete_lag(a, b, rng) for _ in range(5)]
        corrupt = await a.create_user("corrupt", [unit(rng, DIM)])
        foreign = await a.create_user("foreign", [unit(rng, DIM)])
        c = redis_server.client()
        ukey = f"{redis_prefix}:u:"
        blob = bytearray(c.hget(ukey + corrupt.user_id, "r"))
        blob[-5] ^= 1
        c.hset(ukey + corrupt.user_id, "r", bytes(blob))
        # a data key wrapped under a key this replica does not hold ("wrong key on one replica")
        dk = unwrap(c.hget(ukey + foreign.user_id, "k"), b._cipher, foreign.user_id)
        c.hset(ukey + foreign.user_id, "k", wrap(dk, Cipher(parse_key(generate_key(), "k")), foreign.user_id))
        for u in (corrupt, foreign):
            c.xadd(f"{redis_prefix}:events", {"op": "put", "id": u.user_id, "v": 1})
        c.close()
        poisoned = await delete_lag(a, b, rng)
        limit = max(1.0, 10 * max(baseline))   # "the usual propagation time", from this machine's own clock
        print(f"delete propagation: baseline max {max(baseline) * 1e3:.2f} ms, "
              f"behind poisoned records {poisoned * 1e3:.2f} ms (limit {limit * 1e3:.0f} ms)")
        assert poisoned <= limit
        assert set(b.quarantined) == {corrupt.user_id, foreign.user_id}
        assert b.metrics.quarantined._value.get() >= 2
        assert corrupt.user_id not in b._mirror.names and foreign.user_id not in b._mirror.names
        fresh = create_store(cfg(redis_server.url, redis_prefix, key))
        await fresh.open()   # start-up does not fail on them either
        assert set(fresh.quarantined) == {corrupt.user_id, foreign.user_id}
        assert (await fresh.health())["quarantined"] == 2
        await fresh.close()
        await a.delete_user(corrupt.user_id)   # erasure does not need to decrypt what it erases
        await a.delete_user(foreign.user_id)
        assert await a.count() == 0
    finally:
        await a.close()
        await b.close()


async def test_redis_restored_from_an_older_aof_is_detected_and_reloaded(tmp_path, key, rng):
    _need_redis()
    work = tmp_path / "redis"
    work.mkdir()
    server = RedisServer(work, *AOF)
    s = create_store(cfg(server.url, "aof", key))
    await s.open()
    try:
        early = [(await s.create_user(f"a{i}", [unit(rng, DIM)])).user_id for i in range(3)]
        shutil.copytree(work / "appendonlydir", tmp_path / "aof-copy")   # appendfsync always: on disk
        await s.delete_user(early[0])
        late = [(await s.create_user(f"b{i}", [unit(rng, DIM)])).user_id for i in range(2)]
        assert set(s._mirror.names) == {*early[1:], *late}
        server.kill()
        shutil.rmtree(work / "appendonlydir")
        shutil.copytree(tmp_path / "aof-copy", work / "appendonlydir")
        server = RedisServer(work, *AOF, port=server.port)   # Redis back, from the older AOF
        await wait_until(lambda: set(s._mirror.names) == set(early), timeout=30)
        reasons = {labels["reason"] for m in s.metrics.registry.collect() for sample in m.samples
                   if sample.name == "vomid_store_reloads_total" and sample.value > 0
                   for labels in [sample.labels]}
        assert reasons & {"stream_regressed", "history_rewritten"}
        assert (await s.health())["reloads"] >= 1
    finally:
        await s.close()
        server.stop()


async def burst(s, rng, n: int) -> list[str]:
    ids = []
    for i in range(0, n, 25):
        users = await asyncio.gather(*[s.create_user(f"k{i + j}", [unit(rng, DIM)]) for j in range(25)])
        ids += [u.user_id for u in users]   # every one of these was acknowledged
    return ids


@pytest.mark.parametrize("strict", [True, False], ids=["fsync-mode", "control-no-persistence"])
async def test_sigkill_right_after_acknowledged_burst(tmp_path, key, rng, strict):
    _need_redis()
    args, extra = (AOF, {"redis_durability": "fsync"}) if strict else ((), {})
    server = RedisServer(tmp_path, *args)
    s = create_store(cfg(server.url, "kill", key, **extra))
    await s.open()
    acked = await burst(s, rng, 200)
    server.kill()   # SIGKILL the moment the last acknowledgement arrived
    await s.close()
    server = RedisServer(tmp_path, *args, port=server.port)
    try:
        after = create_store(cfg(server.url, "kill", key))
        await after.open()
        kept = {u.user_id for u in (await after.list_users(limit=1000)).items}
        await after.close()
        if strict:
            assert kept == set(acked)
        else:   # the control shows the test can fail: nothing persisted, everything lost
            assert not kept
    finally:
        server.stop()


async def test_fsync_mode_refuses_a_server_that_cannot_give_it(redis_server, redis_prefix, key):
    s = create_store(cfg(redis_server.url, redis_prefix, key, redis_durability="fsync"))
    with pytest.raises(StoreConfigError, match="appendfsync always"):
        await s.open()
    await s.close()


async def test_replica_mode_without_a_replica_does_not_acknowledge(redis_server, redis_prefix, key, rng):
    s = create_store(cfg(redis_server.url, redis_prefix, key, redis_durability="replica",
                         redis_wait_timeout_ms=100))
    await s.open()
    try:
        with pytest.raises(StorageUnavailable, match="0 of 1 replicas"):
            await s.create_user("x", [np.ones(DIM, dtype=np.float32)])
    finally:
        await s.close()
