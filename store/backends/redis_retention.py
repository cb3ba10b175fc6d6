"""Retention on Redis: last use in each user's hash (`lu`), touched coarsely, swept by one replica at a time.

Every put sets `lu`; a verification rewrites it only when the value this replica last saw is older than the
retention resolution (store.retention). The sweep runs under <p>:retention-lock (SET NX PX, released by
expiry), so replicas do not erase the same users twice.
"""
from __future__ import annotations

import redis.asyncio as aioredis

from .. import clock
from ..config import StorageConfig
from ..retention import Retention
from .redis_layout import TOUCH, Keys

_CHUNK = 1000


class RedisRetention:
    def __init__(self, config: StorageConfig, r: aioredis.Redis, k: Keys, node_id: str):
        self.policy = Retention(config)
        self._r, self._k, self._node = r, k, node_id
        self._touch = r.register_script(TOUCH)
        self._seen: dict[str, float] = {}   # last use this replica wrote or read, per user

    async def touch(self, user_id: str) -> None:
        now = clock.now()
        if self.policy.needs_touch(self._seen.get(user_id), now):
            if self._seen.get(user_id) is None:   # first time here: what does Redis hold?
                held = await self._r.hget(self._k.user(user_id), "lu")
                if held is not None and not self.policy.needs_touch(float(held), now):
                    self._seen[user_id] = float(held)
                    return
            await self._touch(keys=[self._k.user(user_id)], args=[repr(now)])
            self._seen[user_id] = now

    async def last_uses(self) -> dict[str, float]:
        ids = [b.decode() for b in await self._r.zrange(self._k.users, 0, -1)]
        out = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            async with self._r.pipeline(transaction=False) as pipe:
                for u in chunk:
                    pipe.hget(self._k.user(u), "lu")
                held = await pipe.execute()
            for uid, lu in zip(chunk, held):
                if lu is not None:
                    out[uid] = self._seen[uid] = float(lu)
                else:   # written before last use was kept: its clock starts now
                    await self._touch(keys=[self._k.user(uid)], args=[repr(clock.now())])
        return out

    async def lock(self) -> bool:
        """This replica sweeps: it took the lock, or already holds it (the lock outlives its holder by one period)."""
        ttl_ms = max(1000, int(self.policy.sweep_s * 1000))
        if await self._r.set(self._k.sweep_lock, self._node, nx=True, px=ttl_ms):
            return True
        if await self._r.get(self._k.sweep_lock) == self._node.encode():
            await self._r.pexpire(self._k.sweep_lock, ttl_ms)
            return True
        return False

    async def release(self) -> None:
        """At close: let another replica take over the sweeps at once."""
        if await self._r.get(self._k.sweep_lock) == self._node.encode():
            await self._r.delete(self._k.sweep_lock)
