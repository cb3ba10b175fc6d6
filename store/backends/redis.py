"""The redis backend: Redis holds the durable copy; each replica keeps its own index.

Layout and write scripts: store.backends.redis_layout. A replica starts from a snapshot of all records
plus the stream tail (StreamFollower); its local index answers search (and score, when Redis is down)
even while Redis is unreachable. A record this replica cannot decrypt or verify (a key it does not hold,
corruption, an older version of a record replayed over a newer one) is quarantined: logged with its id,
counted in vomid_store_quarantined_records_total, left out of the view, and replication goes on.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..config import StorageConfig
from ..crypto import Cipher, load_cipher
from ..datakeys import wrap
from ..errors import StorageUnavailable, UserNotFound
from ..models import Page
from ..records import UserRecord
from ..redis_client import RedisSettings, connect, unavailable
from ..retention import Sweeper
from ..validation import check_page
from .redis_durability import Durability
from .redis_layout import WRITE, Keys
from .redis_meta import beat, check_meta, heartbeat_forever
from .redis_retention import RedisRetention
from .redis_replica import RedisSource
from .replica import ReplicaView
from .replicated import ReplicatedStore
from .redis_stream import StreamFollower

log = logging.getLogger(__name__)
_CHUNK = 1000


class RedisStore(ReplicatedStore):
    backend = "redis"
    announce = True   # heartbeat in <p>:nodes (operator commands turn it off: they are not routers)

    def __init__(self, config: StorageConfig, cipher: Cipher | None = None):
        self._config = config
        self._k = Keys(config.redis_prefix)
        self.node_id = uuid.uuid4().hex[:16]
        self._r = self._client(config.redis_timeout_s)
        # The follower parks in blocking reads, so its socket timeout must outlast the block.
        self._rs = self._client(config.redis_timeout_s + 1.0)
        self._view = ReplicaView(config, cipher or load_cipher(config), RedisSource(self._r, self._k), self.metrics)
        self._script = self._r.register_script(WRITE)
        self._durability = Durability(config)
        # WAIT/WAITAOF block up to redis_wait_timeout_ms: their connection's read timeout must outlast that.
        self._rw = self._client(config.redis_timeout_s + config.redis_wait_timeout_ms / 1000) \
            if config.redis_durability != "applied" else self._r
        self._follower = StreamFollower(self._rs, self._k.events, self._view.apply_events, self._view.reload,
                                        on_reload=lambda code: self.metrics.reloads.labels(code).inc())
        self._heartbeat_task: asyncio.Task | None = None
        self._retention = RedisRetention(config, self._r, self._k, self.node_id)
        self._sweeper = Sweeper(self, self._retention.policy)

    def _client(self, timeout: float) -> aioredis.Redis:
        # No retries: a dead Redis should surface as StorageUnavailable now, not after backoff.
        return connect(RedisSettings.from_storage(self._config), timeout_s=timeout, fail_fast=True)

    _unavailable = staticmethod(unavailable)

    @property
    def _cipher(self) -> Cipher:
        return self._view.cipher

    @property
    def quarantined(self) -> dict[str, str]:
        return self._view.quarantined

    # --- start-up / shutdown --------------------------------------------------------------
    async def open(self) -> None:
        self._view.metrics = self.metrics   # (a registry given after construction)
        try:
            with unavailable():
                stored_dim = await check_meta(self._r, self._k, self._cipher, self._config.dim)
                if stored_dim is not None:
                    self._mirror.fix_dim(stored_dim)
                await self._durability.check(self._r)
                start = await self._view.reload()
                if self.announce:
                    await beat(self._r, self._k, self.node_id, self._cipher)
        except BaseException:
            await self.close()  # a failed start must not leak connections
            raise
        self._follower.start(start)
        self._sweeper.start()
        if self.announce:
            self._heartbeat_task = asyncio.get_running_loop().create_task(
                heartbeat_forever(self._r, self._k, self.node_id, lambda: self._cipher))
        log.info("redis store opened", extra={"users": len(self._mirror.names)})

    async def close(self) -> None:
        await self._sweeper.stop()
        with contextlib.suppress(RedisError, OSError):
            await self._retention.release()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
            with contextlib.suppress(RedisError, OSError):
                await self._r.hdel(self._k.nodes, self.node_id)
        await self._follower.stop()
        await self._r.aclose()
        await self._rs.aclose()
        if self._rw is not self._r:
            await self._rw.aclose()

    # --- writes ---------------------------------------------------------------------------
    async def _learn_dim(self, dim: int) -> None:
        if self._mirror.dim is None:
            await self._r.hsetnx(self._k.meta, "dim", dim)
            self._mirror.fix_dim(int(await self._r.hget(self._k.meta, "dim")))
        self._mirror.fix_dim(dim)

    async def _run_script(self, op: str, record: UserRecord | None, user_id: str, version: int,
                          wraps: bytes = b"") -> list:
        keys = [self._k.user(user_id), self._k.users, self._k.events]
        args = [op, str(version), record.seal(version + 1) if record else b"", wraps,
                record.created_at if record else 0, user_id, self._config.redis_stream_maxlen,
                repr(record.last_use) if record else 0]
        if not self._durability.needs_confirmation:
            return await self._script(keys=keys, args=args)
        async with self._rw.client() as conn:   # WAIT/WAITAOF count the writes of the connection they run on
            result = await self._script(keys=keys, args=args, client=conn)
            if result[0]:
                await self._durability.confirm(conn)
            return result

    async def _write(self, user_id: str, build, op: str = "put") -> UserRecord | None:
        """One optimistic change of a user: build(current record or None) -> the record to store."""
        with unavailable():
            while True:
                blob, wraps, version = await self._r.hmget(self._k.user(user_id), "r", "k", "v")
                version = int(version or 0)
                if op == "del":   # erasure never depends on decrypting what is erased
                    if blob is None:
                        raise UserNotFound(user_id)
                    record, new_key = None, False
                else:
                    current = None if blob is None else self._view.decode(user_id, blob, wraps, version)
                    record = build(current)
                    new_key = current is None or current.data_key != record.data_key
                result = await self._run_script(op, record, user_id, version,
                                                wrap(record.data_key, self._cipher, user_id) if new_key else b"")
                if result[0]:
                    break   # else another replica changed this user meanwhile: rebuild on its state
        event_id = result[1].decode()
        # Read-your-writes: return once our own index shows the change (the follower applies it).
        if not await self._follower.wait_for(event_id, self._config.redis_timeout_s):
            log.warning("local index did not catch up with %s in time", event_id)
        return record

    async def import_records(self, records: list[UserRecord]) -> None:
        records = [r if r.data_key is not None else r.with_key() for r in records]
        for r in records:
            self._mirror.fix_dim(r.dim)
        last = None
        with unavailable():
            if records:
                await self._learn_dim(records[0].dim)
            for r in records:   # one compare-and-set per user (2 round trips): restores are rare
                while True:
                    version = int(await self._r.hget(self._k.user(r.user_id), "v") or 0)
                    result = await self._run_script("put", r, r.user_id, version, wrap(r.data_key, self._cipher,
                                                                                         r.user_id))
                    if result[0]:
                        last = result[1].decode()
                        break
        if last is not None:
            await self._follower.wait_for(last, max(10.0, self._config.redis_timeout_s))

    # --- reads ----------------------------------------------------------------------------
    async def list_users(self, offset: int = 0, limit: int = 50) -> Page:
        check_page(offset, limit)
        with unavailable():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.zrange(self._k.users, offset, offset + limit - 1)
                pipe.zcard(self._k.users)
                ids, total = await pipe.execute()
            rows = await self._view.fetch([b.decode() for b in ids], strict=False) if ids else []
        return Page([r.to_user() for r, _ in rows if r is not None], total, offset, limit)

    async def count(self) -> int:
        with unavailable():
            return await self._r.zcard(self._k.users)

    async def _touch(self, user_id: str) -> None:
        with unavailable():
            await self._retention.touch(user_id)

    async def health(self) -> dict:
        try:
            with unavailable():
                await self._r.ping()
            up = True
        except StorageUnavailable:
            up = False
        f = self._follower
        return {"backend": self.backend, "ok": up, "redis": "up" if up else "down",
                "stream_id": f.last_id, "stream_connected": f.connected, "reloads": f.reloads,
                "quarantined": len(self.quarantined), "durability": self._durability.mode,
                **self._mirror.stats()}

    # --- backup / keys / rotation ---------------------------------------------------------
    async def export_records(self) -> AsyncIterator[UserRecord]:
        """Every record whole; point-in-time when no write lands during the read (retried a few times)."""
        with unavailable():
            for _ in range(3):
                start = (await self._r.xinfo_stream(self._k.events))["last-generated-id"]
                rows = await self._view.load_all()
                if (await self._r.xinfo_stream(self._k.events))["last-generated-id"] == start:
                    break
            else:
                log.warning("writes kept landing during the backup: each user is captured whole, "
                            "but not all at one instant")
        for r, _ in sorted(rows, key=lambda rv: (rv[0].created_at, rv[0].user_id)):
            yield r

    async def last_uses(self) -> dict[str, float]:
        with unavailable():
            return await self._retention.last_uses()

    async def expire_unused(self, now: float | None = None) -> list[str]:
        with unavailable():
            if not await self._retention.lock():
                return []   # another replica is sweeping
        return await super().expire_unused(now)

    async def rotate_key(self, new_cipher: Cipher) -> int:
        from .redis_rotation import rotate
        return await rotate(self, new_cipher)
