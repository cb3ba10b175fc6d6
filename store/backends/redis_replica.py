"""Where a Redis replica reads the shared copy from (store.backends.replica.Source for Redis)."""
from __future__ import annotations

import redis.asyncio as aioredis

from .redis_layout import Keys


class RedisSource:
    def __init__(self, r: aioredis.Redis, keys: Keys):
        self.r, self.keys = r, keys

    async def rows(self, user_ids: list[str]) -> list[tuple]:
        async with self.r.pipeline(transaction=False) as pipe:
            for u in user_ids:
                pipe.hmget(self.keys.user(u), "r", "k", "v")
            return await pipe.execute()

    async def all_ids(self) -> list[str]:
        return [b.decode() for b in await self.r.zrange(self.keys.users, 0, -1)]

    async def position(self) -> str:
        if not await self.r.exists(self.keys.events):
            # A stream that exists from the start gives every replica a real position.
            await self.r.xadd(self.keys.events, {"op": "init", "id": ""})
        return (await self.r.xinfo_stream(self.keys.events))["last-generated-id"].decode()

    async def wraps(self, user_ids: list[str]) -> list[bytes | None]:
        async with self.r.pipeline(transaction=False) as pipe:
            for u in user_ids:
                pipe.hget(self.keys.user(u), "k")
            return await pipe.execute()
