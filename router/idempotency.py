"""`Idempotency-Key` on register and enroll: a retried request returns the first result, never a second user.

A key is remembered per API key and route, with a fingerprint of the request: the first request marks it
pending, its successful reply is stored for `api.idempotency_ttl_s`; a retry gets that reply again
(`Idempotent-Replayed: true`), a retry while the first is still running gets 409 with Retry-After, and the same
key on a different request gets 422. Failures are not remembered, so a retry after a 503 really retries.
Shared through Redis when the router has one (every replica sees the same keys), else kept in process.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.errors import ApiError, BadRequest
from router.limits import IDEMPOTENCY_KEY
from store.errors import StorageUnavailable

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"


class KeyInProgress(ApiError):
    status, code = 409, "idempotency_in_progress"


class KeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"


@dataclass(frozen=True)
class Reply:
    status: int
    body: str  # the JSON text sent the first time


@dataclass(frozen=True)
class Claim:
    """The right to run a request under a key; `finish` or `abandon` it."""

    slot: str
    fingerprint: str
    token: str


class Memory(Protocol):
    async def put_if_absent(self, slot: str, value: str, ttl_s: float) -> bool: ...
    async def get(self, slot: str) -> str | None: ...
    async def set(self, slot: str, value: str, ttl_s: float) -> None: ...
    async def delete_if(self, slot: str, value: str) -> None: ...


class LocalMemory:
    """In-process slots with expiry; bounded (the oldest entries go first)."""

    def __init__(self, max_entries: int = 100_000):
        self.max_entries = max_entries
        self._items: dict[str, tuple[str, float]] = {}

    def _live(self, slot: str) -> str | None:
        item = self._items.get(slot)
        if item is not None and item[1] < time.monotonic():
            del self._items[slot]
            return None
        return None if item is None else item[0]

    async def put_if_absent(self, slot: str, value: str, ttl_s: float) -> bool:
        if self._live(slot) is not None:
            return False
        await self.set(slot, value, ttl_s)
        return True

    async def get(self, slot: str) -> str | None:
        return self._live(slot)

    async def set(self, slot: str, value: str, ttl_s: float) -> None:
        if slot not in self._items and len(self._items) >= self.max_entries:
            self._items.pop(next(iter(self._items)))
        self._items[slot] = (value, time.monotonic() + ttl_s)

    async def delete_if(self, slot: str, value: str) -> None:
        if self._live(slot) == value:
            del self._items[slot]


# Deletes the slot only if it still holds our pending marker (not a reply stored meanwhile).
_DELETE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisMemory:
    def __init__(self, redis: Redis, prefix: str = "vomid:idem:"):
        self.redis, self.prefix = redis, prefix

    async def put_if_absent(self, slot: str, value: str, ttl_s: float) -> bool:
        return bool(await self._call(self.redis.set, self.prefix + slot, value, nx=True, px=int(ttl_s * 1000)))

    async def get(self, slot: str) -> str | None:
        raw = await self._call(self.redis.get, self.prefix + slot)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else raw

    async def set(self, slot: str, value: str, ttl_s: float) -> None:
        await self._call(self.redis.set, self.prefix + slot, value, px=int(ttl_s * 1000))

    async def delete_if(self, slot: str, value: str) -> None:
        await self._call(self.redis.eval, _DELETE_IF, 1, self.prefix + slot, value)

    @staticmethod
    async def _call(method, *args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as exc:
            # Without the shared memory of keys a retry could create a second user: refuse instead.
            raise StorageUnavailable(f"idempotency keys unavailable: {exc}") from None


class Idempotency:
    def __init__(self, memory: Memory, ttl_s: float, pending_ttl_s: float):
        self.memory, self.ttl_s, self.pending_ttl_s = memory, ttl_s, pending_ttl_s

    async def claim(self, key: str, scope: str, fingerprint: str) -> Claim | Reply:
        """The stored reply of an earlier request with this key, or the right to run this one."""
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise BadRequest(f"{HEADER} must be 1-255 printable ASCII characters", code="invalid_header")
        slot = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
        claim = Claim(slot, fingerprint, secrets.token_hex(8))
        if await self.memory.put_if_absent(slot, self._pending(claim), self.pending_ttl_s):
            return claim
        stored = await self.memory.get(slot)
        if stored is None:  # expired between the two calls: claim it now
            return claim if await self.memory.put_if_absent(slot, self._pending(claim), self.pending_ttl_s) \
                else await self.claim(key, scope, fingerprint)
        entry = json.loads(stored)
        if entry["fingerprint"] != fingerprint:
            raise KeyReused(f"this {HEADER} was used for a different request")
        if entry["state"] == "pending":
            raise KeyInProgress(f"a request with this {HEADER} is still being processed",
                                headers={"Retry-After": "1"})
        return Reply(entry["status"], entry["body"])

    async def finish(self, claim: Claim, reply: Reply) -> None:
        entry = {"state": "done", "fingerprint": claim.fingerprint, "status": reply.status, "body": reply.body}
        await self.memory.set(claim.slot, json.dumps(entry), self.ttl_s)

    async def abandon(self, claim: Claim) -> None:
        try:
            await self.memory.delete_if(claim.slot, self._pending(claim))
        except StorageUnavailable as exc:  # the pending marker expires by itself
            log.warning("could not release an idempotency key: %s", exc)

    @staticmethod
    def _pending(claim: Claim) -> str:
        return json.dumps({"state": "pending", "fingerprint": claim.fingerprint, "token": claim.token})


def fingerprint(route: str, fields: dict[str, str], audio: bytes | None) -> str:
    digest = hashlib.sha256(route.encode())
    for name in sorted(fields):
        digest.update(f"\n{name}={fields[name]}".encode())
    digest.update(b"\naudio=" + (audio or b""))
    return digest.hexdigest()
