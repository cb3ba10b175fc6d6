"""Retention: voiceprints unused for storage.retention_days are erased like a DELETE and audited; use is
recorded coarsely and survives restarts; on Redis one replica sweeps. Time is moved, not waited for."""
import asyncio
import logging

import pytest

from store import clock
from store.errors import UserNotFound

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 16
DAY = 86400.0


@pytest.fixture
def fake_clock(monkeypatch):
    t = {"now": 1_000_000.0}
    monkeypatch.setattr(clock, "now", lambda: t["now"])
    return t


def audited(caplog) -> list[str]:
    return [r.fields["user_id"] for r in caplog.records
            if r.name == "vomid.audit" and getattr(r, "fields", {}).get("action") == "expire"]


async def test_unused_voiceprints_expire_and_are_audited(store_factory, backend, fake_clock, rng, caplog):
    caplog.set_level(logging.INFO, logger="vomid.audit")
    s = await store_factory(retention_days=10)
    used, idle, enrolled = [await s.create_user(n, [unit(rng, DIM)]) for n in ("used", "idle", "enrolled")]
    fake_clock["now"] += 6 * DAY
    await s.score(used.user_id, unit(rng, DIM))              # a verification is use
    await s.add_enrollment(enrolled.user_id, unit(rng, DIM))  # so is an enrolment
    fake_clock["now"] += 5 * DAY                              # idle: 11 days, the others: 5
    assert await s.expire_unused() == [idle.user_id]
    with pytest.raises(UserNotFound):
        await s.get_user(idle.user_id)
    assert all(h.user_id != idle.user_id for h in await s.search(unit(rng, DIM), k=5))
    assert audited(caplog) == [idle.user_id]
    assert s.metrics.expired._value.get() == 1
    if backend != "memory":   # the recorded use survives a restart
        await s.close()
        s = await store_factory(retention_days=10)
    fake_clock["now"] += 4 * DAY                              # 9 days since use: kept
    assert await s.expire_unused() == []
    fake_clock["now"] += 2 * DAY
    assert sorted(await s.expire_unused()) == sorted([used.user_id, enrolled.user_id])
    assert await s.count() == 0


async def test_use_is_recorded_coarsely(store_factory, backend, fake_clock, rng):
    s = await store_factory(retention_days=30)     # resolution: one day
    u = await s.create_user("u", [unit(rng, DIM)])
    base = (await s.last_uses())[u.user_id]
    for _ in range(20):                             # many verifications within the day: one stored use
        fake_clock["now"] += 600
        await s.score(u.user_id, unit(rng, DIM))
    assert (await s.last_uses())[u.user_id] == base
    fake_clock["now"] += DAY
    await s.score(u.user_id, unit(rng, DIM))
    assert (await s.last_uses())[u.user_id] == fake_clock["now"]


async def test_background_sweep(store_factory, fake_clock, rng):
    s = await store_factory(retention_days=1, retention_sweep_s=0.05)
    u = await s.create_user("u", [unit(rng, DIM)])
    fake_clock["now"] += 2 * DAY
    for _ in range(400):   # poll: the sweep runs every 50 ms of real time
        if await s.count() == 0:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(UserNotFound):
        await s.get_user(u.user_id)


@pytest.mark.parametrize("backend", ["redis", "postgres"], indirect=True)
async def test_one_replica_sweeps(store_factory, fake_clock, rng, caplog):
    caplog.set_level(logging.INFO, logger="vomid.audit")
    a = await store_factory(retention_days=1)
    b = await store_factory(retention_days=1)
    made = [(await a.create_user(f"r{i}", [unit(rng, DIM)])).user_id for i in range(4)]
    fake_clock["now"] += 2 * DAY
    first, second = await asyncio.gather(a.expire_unused(), b.expire_unused())
    assert sorted(first + second) == sorted(made) and (not first or not second)
    assert sorted(audited(caplog)) == sorted(made)
