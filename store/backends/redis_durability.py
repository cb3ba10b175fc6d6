"""When a Redis write counts as acknowledged (storage.redis_durability).

  applied        Redis applied it in memory (what the server's own persistence then makes of it: with the
                 compose default `appendfsync everysec` a machine crash can lose the last second).
  fsync          on disk before the reply: WAITAOF 1 0 on Redis >= 7.2 (and Valkey); on older servers the
                 server must run `appendonly yes` + `appendfsync always` (it fsyncs before replying), checked
                 at start.
  replica        copied to redis_wait_replicas replicas (WAIT), so a failover to one of them keeps it.
  fsync+replica  both.
WAIT/WAITAOF count the writes of the connection they are sent on, so the store sends them on the same
connection as the write. A write that is not confirmed in time raises StorageUnavailable: it was applied
but is not acknowledged (the caller may retry).
"""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError, ResponseError

from ..config import StorageConfig
from ..errors import StorageUnavailable, StoreConfigError


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(".")[:2] if x.isdigit())


class Durability:
    def __init__(self, config: StorageConfig):
        self.mode = config.redis_durability
        self.replicas = config.redis_wait_replicas if "replica" in self.mode else 0
        self.timeout_ms = config.redis_wait_timeout_ms
        self.fsync = "fsync" in self.mode
        self.waitaof = False

    @property
    def needs_confirmation(self) -> bool:
        return self.replicas > 0 or self.waitaof

    async def check(self, r: aioredis.Redis) -> None:
        """At start: can this server give the configured guarantee?"""
        if not self.fsync:
            return
        version = (await r.info("server")).get("redis_version", "0")
        if _version(str(version)) >= (7, 2):
            try:   # nothing written on this connection yet: answers at once, or refuses without an AOF
                await r.execute_command("WAITAOF", 1, 0, 1)
            except ResponseError as exc:
                raise StoreConfigError(f"storage.redis_durability: 'fsync' needs the server's appendonly yes "
                                       f"({exc})") from None
            self.waitaof = True
            return
        try:
            conf = await r.config_get("append*")
        except (NoPermissionError, ResponseError) as exc:
            raise StoreConfigError(f"storage.redis_durability: 'fsync' on Redis {version} needs CONFIG GET to check "
                                   f"the server's appendfsync setting ({exc})") from None
        settings = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                    for k, v in conf.items()}
        if settings.get("appendonly") != "yes" or settings.get("appendfsync") != "always":
            raise StoreConfigError(
                f"storage.redis_durability: 'fsync' on Redis {version} (no WAITAOF) needs the server to run "
                f"appendonly yes + appendfsync always; it runs appendonly {settings.get('appendonly')}, "
                f"appendfsync {settings.get('appendfsync')}")

    async def confirm(self, conn: aioredis.Redis) -> None:
        """On the connection that just wrote: wait until the write is as durable as configured."""
        try:
            await self._confirm(conn)
        except ResponseError as exc:   # e.g. the AOF was switched off since the start
            raise StorageUnavailable(f"write not confirmed durable: {exc}") from None

    async def _confirm(self, conn: aioredis.Redis) -> None:
        if self.waitaof:   # on this server's disk (the replicas' own AOF is not required)
            local, _ = await conn.execute_command("WAITAOF", 1, 0, self.timeout_ms)
            if local < 1:
                raise StorageUnavailable(f"write not fsync'd within {self.timeout_ms} ms: not acknowledged")
        if self.replicas:
            got = await conn.execute_command("WAIT", self.replicas, self.timeout_ms)
            if got < self.replicas:
                raise StorageUnavailable(f"write reached {got} of {self.replicas} replicas within "
                                         f"{self.timeout_ms} ms: not acknowledged")
