"""Retention on PostgreSQL: last use in the users table, touched coarsely, swept by one replica at a time.

Every put writes last_use; a verification rewrites it only when the value this replica last saw is older
than the retention resolution (store.retention). The sweep runs under a lease in <p>_meta ('sweep':
"holder|expiry"), taken over by another replica once it has run out.
"""
from __future__ import annotations

import uuid

from .. import clock
from ..config import StorageConfig
from ..retention import Retention
from .postgres_feed import Tables


class PgRetention:
    def __init__(self, config: StorageConfig, pool, t: Tables):
        self.policy = Retention(config)
        self._pool, self._t = pool, t          # pool: a callable (the pool exists once the store is open)
        self._holder = uuid.uuid4().hex
        self._seen: dict[str, float] = {}      # last use this replica wrote or read, per user

    async def touch(self, user_id: str) -> None:
        now = clock.now()
        if not self.policy.needs_touch(self._seen.get(user_id), now):
            return
        if user_id not in self._seen:   # first time here: what does the table hold?
            held = await self._pool().fetchval(f"SELECT last_use FROM {self._t.users} WHERE user_id = $1", user_id)
            if held is not None and not self.policy.needs_touch(held, now):
                self._seen[user_id] = held
                return
        await self._pool().execute(f"UPDATE {self._t.users} SET last_use = $2 WHERE user_id = $1 AND last_use < $2",
                                   user_id, now)
        self._seen[user_id] = now

    async def last_uses(self) -> dict[str, float]:
        rows = await self._pool().fetch(f"SELECT user_id, last_use FROM {self._t.users}")
        return {r["user_id"]: r["last_use"] for r in rows}

    async def lease(self, now: float) -> bool:
        meta = self._t.meta
        return await self._pool().fetchval(
            f"INSERT INTO {meta} (k, v) VALUES ('sweep', $1) ON CONFLICT (k) DO UPDATE SET v = $1 "
            f"WHERE split_part({meta}.v, '|', 1) = $2 OR split_part({meta}.v, '|', 2)::float8 < $3 RETURNING v",
            f"{self._holder}|{now + self.policy.sweep_s}", self._holder, now) is not None
