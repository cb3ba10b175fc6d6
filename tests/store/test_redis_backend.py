"""Redis backend: two replicas in step through the stream, outages, trimmed history, keys."""
import asyncio
import json
import time

import numpy as np
import pytest
import redis

from store.config import StorageConfig
from store.crypto import Cipher, generate_key, parse_key
from store.errors import StorageUnavailable, StoreConfigError
from store.factory import create_store

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 32


def cfg(url, prefix, key, **kw) -> StorageConfig:
    return StorageConfig.from_dict({"type": "redis", "redis_url": url, "redis_prefix": prefix,
                                    "encryption_key": key, "redis_timeout_s": 1.0, **kw})


@pytest.fixture
async def replicas(redis_server, redis_prefix, key):
    a = create_store(cfg(redis_server.url, redis_prefix, key))
    b = create_store(cfg(redis_server.url, redis_prefix, key))
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def wait_until(predicate, timeout: float = 5.0) -> float:
    """Poll an async predicate; returns the seconds it took (fails the test on timeout)."""
    start = time.perf_counter()
    while not await predicate():
        if time.perf_counter() - start > timeout:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def test_two_replicas_see_each_others_changes(replicas, rng):
    a, b = replicas
    enroll_lag, delete_lag, enroll_e2e = [], [], []
    for i in range(20):
        v = unit(rng, DIM)
        t0 = time.perf_counter()
        user = await a.create_user(f"r{i}", [v])
        acked = time.perf_counter() - t0

        async def b_finds():
            hits = await b.search(v, 1)
            return bool(hits) and hits[0].user_id == user.user_id
        enroll_lag.append(await wait_until(b_finds))
        enroll_e2e.append(acked + enroll_lag[-1])
        assert (await b.get_user(user.user_id)).name == f"r{i}"

        await b.delete_user(user.user_id)

        async def a_lost():
            return all(h.user_id != user.user_id for h in await a.search(v, 3))
        delete_lag.append(await wait_until(a_lost))
    def ms(xs):
        return {"p50": round(float(np.median(xs)) * 1e3, 3), "max": round(max(xs) * 1e3, 3)}
    # After-ack lag is ~0 when B applies the event while A waits for its own index to catch up;
    # the write-start-to-visible-on-B time is the figure a client would notice.
    report = {"create_start_on_A_to_visible_on_B_ms": ms(enroll_e2e), "after_ack_on_A_ms": ms(enroll_lag),
              "delete_ack_on_B_to_gone_on_A_ms": ms(delete_lag)}
    print("replica propagation:", json.dumps(report))
    assert np.median(enroll_lag) < 0.5 and np.median(delete_lag) < 0.5


async def test_concurrent_enrollments_from_two_replicas_are_not_lost(replicas, rng):
    a, b = replicas
    user = await a.create_user("shared", [unit(rng, DIM)])
    await asyncio.gather(*[(a if i % 2 else b).add_enrollment(user.user_id, unit(rng, DIM)) for i in range(10)])
    assert (await b.get_user(user.user_id)).enrollments == 11


async def test_replica_behind_trimmed_stream_reloads(replicas, redis_server, redis_prefix, rng):
    a, b = replicas
    await b._follower.stop()  # b goes deaf while the history it needs is trimmed away
    position = b._follower.last_id
    vecs = unit(rng, DIM, 5)
    users = [await a.create_user(f"t{i}", [v]) for i, v in enumerate(vecs)]
    await a.delete_user(users[0].user_id)
    client = redis.Redis.from_url(redis_server.url)
    client.xtrim(f"{redis_prefix}:events", maxlen=0)
    client.close()
    b._follower.start(position)

    async def b_caught_up():
        return len(b._mirror.names) == 4
    await wait_until(b_caught_up)
    assert b._follower.reloads >= 1
    assert (await b.search(vecs[3], 1))[0].user_id == users[3].user_id
    assert all(h.user_id != users[0].user_id for h in await b.search(vecs[0], 4))


async def test_outage_is_a_typed_error_and_local_reads_go_on(own_redis, key, rng):
    s = create_store(cfg(own_redis.url, "outage", key))
    await s.open()
    v = unit(rng, DIM)
    user = await s.create_user("o", [v])
    own_redis.stop()
    with pytest.raises(StorageUnavailable):
        await s.create_user("p", [unit(rng, DIM)])
    with pytest.raises(StorageUnavailable):
        await s.get_user(user.user_id)
    with pytest.raises(StorageUnavailable):
        await s.count()
    assert (await s.search(v, 1))[0].user_id == user.user_id       # the local index still answers
    assert await s.score(user.user_id, v) == pytest.approx(1.0, abs=1e-5)
    assert (await s.health())["ok"] is False
    await s.close()


async def test_unreachable_at_start(key):
    from .conftest import free_port
    s = create_store(cfg(f"redis://127.0.0.1:{free_port()}/0", "none", key))
    with pytest.raises(StorageUnavailable):
        await s.open()
    await s.close()


async def test_wrong_key_dim_mismatch_and_rotation(redis_server, redis_prefix, key, rng):
    s = create_store(cfg(redis_server.url, redis_prefix, key))
    await s.open()
    user = await s.create_user("k", [unit(rng, DIM)])
    with pytest.raises(StoreConfigError, match="wrong key"):
        await create_store(cfg(redis_server.url, redis_prefix, generate_key())).open()
    with pytest.raises(StoreConfigError, match="storage.dim"):
        await create_store(cfg(redis_server.url, redis_prefix, key, dim=DIM + 1)).open()
    new_key = generate_key()
    assert await s.rotate_key(Cipher(parse_key(new_key, "k"))) == 1
    await s.close()
    with pytest.raises(StoreConfigError):
        await create_store(cfg(redis_server.url, redis_prefix, key)).open()
    s = create_store(cfg(redis_server.url, redis_prefix, new_key))
    await s.open()
    assert (await s.get_user(user.user_id)).name == "k"
    raw = redis.Redis.from_url(redis_server.url).hget(f"{redis_prefix}:u:{user.user_id}", "r")
    assert b'"k"' not in raw  # name and metadata are sealed
    await s.close()
