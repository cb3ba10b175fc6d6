"""Fast unit tests of router.idempotency: the in-process memory on a controlled clock (expiry, bound), claims,
replays, conflicts and releases, the request fingerprint, and the Redis memory against a real redis-server (and
an unreachable one). Part of the mutation check (scripts/mutation.sh); test_idempotent_retries.py covers it
through the SDK and a running router."""
from __future__ import annotations

import hashlib
import json
import logging
import time

import pytest

from router import idempotency
from router.errors import BadRequest
from router.idempotency import (Claim, Idempotency, KeyInProgress, KeyReused, LocalMemory, RedisMemory, Reply,
                                fingerprint)
from store.errors import StorageUnavailable

session_loop = pytest.mark.asyncio(loop_scope="session")


class Clock:
    """time.monotonic of the module under test; `script` (if any) answers the next calls in order."""

    def __init__(self):
        self.now = 100.0
        self.script: list[float] = []

    def monotonic(self) -> float:
        if self.script:
            self.now = self.script.pop(0)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(idempotency, "time", fake)
    return fake


@session_loop
async def test_local_memory_slots_and_expiry(clock):
    memory = LocalMemory()
    assert await memory.put_if_absent("s", "one", 2.0) is True
    assert await memory.put_if_absent("s", "two", 2.0) is False
    assert await memory.get("s") == "one" and await memory.get("other") is None
    clock.now += 2.0
    assert await memory.get("s") == "one"                # alive up to its expiry
    clock.now += 0.5
    assert await memory.get("s") is None and "s" not in memory._items
    assert await memory.put_if_absent("s", "three", 1.0) is True
    await memory.set("s", "four", 10.0)
    clock.now += 5.0
    assert await memory.get("s") == "four"


@session_loop
async def test_local_memory_delete_if_only_deletes_its_own_value(clock):
    memory = LocalMemory()
    await memory.set("s", "mine", 5.0)
    await memory.delete_if("s", "theirs")
    assert await memory.get("s") == "mine"
    await memory.delete_if("s", "mine")
    assert await memory.get("s") is None
    await memory.delete_if("absent", "x")   # nothing there: nothing happens


@session_loop
async def test_local_memory_is_bounded(clock):
    memory = LocalMemory(max_entries=2)
    await memory.set("a", "1", 10.0)
    await memory.set("b", "2", 10.0)
    await memory.set("b", "2b", 10.0)                   # an existing slot evicts nothing
    assert sorted(memory._items) == ["a", "b"]
    await memory.set("c", "3", 10.0)                    # a new one evicts the oldest
    assert sorted(memory._items) == ["b", "c"] and await memory.get("b") == "2b"
    assert LocalMemory().max_entries == 100_000


def keeper(**kw) -> Idempotency:
    return Idempotency(LocalMemory(), ttl_s=kw.get("ttl_s", 60.0), pending_ttl_s=kw.get("pending_ttl_s", 10.0))


@pytest.mark.parametrize("key", ["", "a" * 256, "has space", "tab\t", "é", "\x7f"])
@session_loop
async def test_keys_must_be_printable_ascii(key, clock):
    with pytest.raises(BadRequest) as err:
        await keeper().claim(key, "scope", "fp")
    assert (err.value.message, err.value.code) == \
        ("Idempotency-Key must be 1-255 printable ASCII characters", "invalid_header")


@session_loop
async def test_edge_keys_are_accepted(clock):
    for key in ("!", "~", "a" * 255, "x"):
        assert isinstance(await keeper().claim(key, "scope", "fp"), Claim)


@session_loop
async def test_a_claim_is_pending_then_replayed(clock):
    keys = keeper(ttl_s=60.0, pending_ttl_s=10.0)
    claim = await keys.claim("k1", "key-a /register", "fp-1")
    assert claim.slot == hashlib.sha256(b"key-a /register\nk1").hexdigest() and claim.fingerprint == "fp-1"
    assert len(claim.token) == 16 and claim.token != (await keys.claim("k2", "key-a /register", "fp-1")).token
    assert json.loads(await keys.memory.get(claim.slot)) == {"state": "pending", "fingerprint": "fp-1",
                                                             "token": claim.token}
    with pytest.raises(KeyInProgress) as err:
        await keys.claim("k1", "key-a /register", "fp-1")
    assert (err.value.status, err.value.code, err.value.headers) == (409, "idempotency_in_progress",
                                                                     {"Retry-After": "1"})
    assert err.value.message == "a request with this Idempotency-Key is still being processed"
    with pytest.raises(KeyReused) as err:
        await keys.claim("k1", "key-a /register", "fp-2")
    assert (err.value.status, err.value.code, err.value.message) == \
        (422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
    await keys.finish(claim, Reply(201, '{"user_id": "u1"}'))
    assert json.loads(await keys.memory.get(claim.slot)) == {"state": "done", "fingerprint": "fp-1",
                                                             "status": 201, "body": '{"user_id": "u1"}'}
    assert await keys.claim("k1", "key-a /register", "fp-1") == Reply(201, '{"user_id": "u1"}')
    with pytest.raises(KeyReused):
        await keys.claim("k1", "key-a /register", "fp-2")
    assert isinstance(await keys.claim("k1", "key-b /register", "fp-1"), Claim)   # another API key's own


@session_loop
async def test_pending_and_done_entries_expire_at_their_own_ttl(clock):
    keys = keeper(ttl_s=60.0, pending_ttl_s=10.0)
    claim = await keys.claim("k", "s", "fp")
    clock.now += 10.5
    retried = await keys.claim("k", "s", "fp")           # the first request died: its claim lapsed
    assert isinstance(retried, Claim) and retried.token != claim.token
    await keys.finish(retried, Reply(200, "{}"))
    clock.now += 59.5
    assert await keys.claim("k", "s", "fp") == Reply(200, "{}")
    clock.now += 1.0
    assert isinstance(await keys.claim("k", "s", "fp"), Claim)


@session_loop
async def test_a_claim_that_expires_between_the_two_calls_is_taken(clock):
    keys = keeper(pending_ttl_s=10.0)
    first = await keys.claim("k", "s", "fp")
    # put_if_absent sees the first claim alive (t=105), get sees it expired (t=111): the key is claimed anew.
    clock.script = [105.0, 111.0, 111.0, 111.0]
    second = await keys.claim("k", "s", "fp")
    assert isinstance(second, Claim) and second.token != first.token
    assert json.loads(await keys.memory.get(second.slot))["token"] == second.token


class RacingMemory(LocalMemory):
    """Test double for one interleaving only: between our get() (which finds the slot expired) and our second
    put_if_absent, a competitor claims the slot, as another replica can through Redis."""

    def __init__(self, competitor: str):
        super().__init__()
        self.competitor, self.raced = competitor, False

    async def get(self, slot: str) -> str | None:
        if self.raced:
            return await super().get(slot)
        self.raced = True
        self._items.pop(slot, None)                       # expired just now ...
        await self.set(slot, self.competitor, 10.0)       # ... and taken by the competitor
        return None


@session_loop
async def test_a_competitor_that_claims_first_after_an_expiry_wins(clock):
    slot = hashlib.sha256(b"s\nk").hexdigest()
    competitor = Idempotency._pending(Claim(slot, "fp", "competitor"))
    keys = Idempotency(RacingMemory(competitor), 60.0, 10.0)
    await keys.memory.set(slot, Idempotency._pending(Claim(slot, "fp", "first")), 10.0)
    with pytest.raises(KeyInProgress):
        await keys.claim("k", "s", "fp")                  # retried from the top: the competitor's claim holds
    assert json.loads(await keys.memory.get(slot))["token"] == "competitor"


@session_loop
async def test_abandon_releases_only_a_pending_claim(clock):
    keys = keeper()
    claim = await keys.claim("k", "s", "fp")
    await keys.abandon(claim)
    assert await keys.memory.get(claim.slot) is None
    again = await keys.claim("k", "s", "fp")
    await keys.finish(again, Reply(201, "{}"))
    await keys.abandon(again)                            # too late: the stored reply stays
    assert await keys.claim("k", "s", "fp") == Reply(201, "{}")


def test_fingerprint_is_stable_and_covers_route_fields_and_audio():
    base = fingerprint("/api/v1/voiceprint/register", {"name": "Ada", "metadata": "{}"}, b"RIFF")
    # Pinned: router replicas of two releases share the same Redis keys during a rolling upgrade.
    assert base == "51204742a4fe58dd3bd2d9c0f77b8d40c6c30ffc24b1e01940744d9f79f5eaa4"
    assert fingerprint("/api/v1/voiceprint/register", {"metadata": "{}", "name": "Ada"}, b"RIFF") == base
    others = {fingerprint("/api/v1/voiceprint/enroll", {"name": "Ada", "metadata": "{}"}, b"RIFF"),
              fingerprint("/api/v1/voiceprint/register", {"name": "Ada", "metadata": "{ }"}, b"RIFF"),
              fingerprint("/api/v1/voiceprint/register", {"name": "Ada", "metadatb": "{}"}, b"RIFF"),
              fingerprint("/api/v1/voiceprint/register", {"name": "Ada", "metadata": "{}"}, b"RIFX"),
              fingerprint("/api/v1/voiceprint/register", {"name": "Ada"}, b"RIFF")}
    assert len(others) == 5 and base not in others
    assert fingerprint("/r", {}, None) == fingerprint("/r", {}, b"") == \
        "cfa8bd3e7871a526eef9c7cbb7e2fd8b9561294e0eb114e9fed0ce9e65505bd4"


@session_loop
async def test_redis_memory(redis_url):
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    prefix = f"test:idem:{time.monotonic_ns()}:"
    memory = RedisMemory(redis, prefix=prefix)
    try:
        # Long TTLs, bounds from the measured clock: what Redis reports is the TTL less the time that passed.
        started = time.monotonic()
        assert await memory.put_if_absent("s", "one", 1000.0) is True
        assert await memory.put_if_absent("s", "two", 1000.0) is False
        assert await memory.get("s") == "one" and await memory.get("absent") is None
        ttl_ms = await redis.pttl(prefix + "s")
        assert 1_000_000 - (time.monotonic() - started) * 1000 - 1 <= ttl_ms <= 1_000_000
        started = time.monotonic()
        await memory.set("s", "three", 2000.0)
        assert await memory.get("s") == "three"
        ttl_ms = await redis.pttl(prefix + "s")
        assert 2_000_000 - (time.monotonic() - started) * 1000 - 1 <= ttl_ms <= 2_000_000
        await memory.delete_if("s", "other")
        assert await memory.get("s") == "three"
        await memory.delete_if("s", "three")
        assert await redis.exists(prefix + "s") == 0
        keys = Idempotency(memory, 60.0, 10.0)
        claim = await keys.claim("k", "s", "fp")
        await keys.finish(claim, Reply(201, "{}"))
        assert await Idempotency(RedisMemory(redis, prefix=prefix), 60.0, 10.0).claim("k", "s", "fp") == \
            Reply(201, "{}")   # another replica sees it
        assert await RedisMemory(redis).put_if_absent(f"slot-{time.monotonic_ns()}", "v", 1.0) is True
        assert await redis.keys("vomid:idem:slot-*")   # the default prefix
        text = Redis.from_url(redis_url, decode_responses=True)   # a client that answers str, not bytes
        try:
            assert await RedisMemory(text, prefix=prefix).get("k-absent") is None
            await RedisMemory(text, prefix=prefix).set("t", "text", 5.0)
            assert await RedisMemory(text, prefix=prefix).get("t") == "text"
        finally:
            await text.aclose()
    finally:
        await redis.aclose()


@session_loop
async def test_unreachable_redis_refuses_instead_of_risking_a_second_user(caplog):
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    memory = RedisMemory(redis)
    try:
        for call in (memory.put_if_absent("s", "v", 1.0), memory.get("s"), memory.set("s", "v", 1.0),
                     memory.delete_if("s", "v")):
            with pytest.raises(StorageUnavailable) as err:
                await call
            assert str(err.value).startswith("idempotency keys unavailable: ")
        caplog.set_level(logging.WARNING, logger="router.idempotency")
        await Idempotency(memory, 60.0, 10.0).abandon(Claim("slot", "fp", "token"))   # logged, not raised
        [record] = [r for r in caplog.records if r.name == "router.idempotency"]
        assert record.getMessage().startswith("could not release an idempotency key: idempotency keys unavailable")
    finally:
        await redis.aclose()
