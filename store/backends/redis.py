"""The redis backend: Redis holds the durable copy; each replica keeps its own index.

Keys under `<prefix>:` — `meta` (hash: key_id, dim), `u:<id>` (sealed record), `users` (zset of
ids by creation time, for paging), `events` (stream of {op, id}, trimmed to redis_stream_maxlen).
Writes are WATCH/MULTI transactions that update the record, the zset and the stream together.
A replica starts from a snapshot of all records plus the stream tail (StreamFollower); its
local index answers search (and score, when Redis is down) even while Redis is unreachable.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..base import VoiceprintStore
from ..config import StorageConfig
from ..crypto import Cipher, load_cipher
from ..embeddings import as_embedding, index_rows, normalise
from ..errors import (InvalidEmbedding, InvalidRequest, StorageUnavailable, StoreConfigError, UserExists,
                      UserNotFound)
from ..mirror import LocalMirror
from ..models import Match, Page, User
from ..records import UserRecord
from ..redis_client import RedisSettings, connect
from ..validation import check_page, check_room, new_record
from .redis_stream import StreamFollower

log = logging.getLogger(__name__)
_CHUNK = 1000


@contextlib.contextmanager
def unavailable():
    """Connection trouble becomes the one typed error the router maps to 503."""
    try:
        yield
    except AuthenticationError as exc:
        raise StoreConfigError(f"storage.redis_password: redis refused the credentials: {exc}") from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StorageUnavailable(f"redis unreachable: {exc}") from None


class RedisStore(VoiceprintStore):
    backend = "redis"

    def __init__(self, config: StorageConfig, cipher: Cipher | None = None):
        self._config = config
        self._cipher = cipher or load_cipher(config)
        p = config.redis_prefix
        self._k_meta, self._k_users, self._k_events = f"{p}:meta", f"{p}:users", f"{p}:events"
        self._k_user = f"{p}:u:"
        self._mirror = LocalMirror(config, keep_records=False)
        self._r = self._client(config.redis_timeout_s)
        # The follower parks in blocking reads, so its socket timeout must outlast the block.
        self._rs = self._client(config.redis_timeout_s + 1.0)
        self._follower = StreamFollower(self._rs, self._k_events, self._apply_events, self._reload)

    def _client(self, timeout: float) -> aioredis.Redis:
        # No retries: a dead Redis should surface as StorageUnavailable now, not after backoff.
        return connect(RedisSettings.from_storage(self._config), timeout_s=timeout, fail_fast=True)

    # --- start-up / shutdown --------------------------------------------------------------
    async def open(self) -> None:
        try:
            with unavailable():
                await self._check_meta()
                if not await self._r.exists(self._k_events):
                    # A stream that exists from the start gives every replica a real position.
                    await self._r.xadd(self._k_events, {"op": "init", "id": ""})
                start = await self._reload()
        except BaseException:
            await self.close()  # a failed start must not leak connections
            raise
        self._follower.start(start)
        log.info("redis store opened", extra={"users": len(self._mirror.names)})

    async def _check_meta(self) -> None:
        await self._r.hsetnx(self._k_meta, "key_id", self._cipher.key_id)
        meta = await self._r.hgetall(self._k_meta)
        self._cipher.check_key_id(meta[b"key_id"].decode(), f"redis {self._k_meta}")
        if b"dim" in meta:
            stored = int(meta[b"dim"])
            if self._config.dim is not None and self._config.dim != stored:
                raise StoreConfigError(f"storage.dim: configured {self._config.dim}, the store holds {stored}")
            self._mirror.fix_dim(stored)

    async def _reload(self) -> str:
        """Snapshot + tail: note the stream position first, then read every record into a new view."""
        info = await self._r.xinfo_stream(self._k_events)
        start = info["last-generated-id"].decode()
        records = await self._load_all()
        mirror = LocalMirror(self._config, keep_records=False)
        if self._mirror.dim is not None:
            mirror.fix_dim(self._mirror.dim)
        await mirror.load(records)
        self._mirror = mirror  # swap whole: searches never see a half-built view
        return start

    async def _load_all(self) -> list[UserRecord]:
        ids = await self._r.zrange(self._k_users, 0, -1)
        records = []
        for i in range(0, len(ids), _CHUNK):
            chunk = [b.decode() for b in ids[i:i + _CHUNK]]
            records += [r for r in await self._fetch(chunk) if r is not None]
        return records

    async def _fetch(self, user_ids: list[str]) -> list[UserRecord | None]:
        blobs = await self._r.mget([self._k_user + u for u in user_ids])
        return await asyncio.to_thread(self._unseal_all, user_ids, blobs)

    def _unseal_all(self, user_ids, blobs) -> list[UserRecord | None]:
        return [None if b is None else self._unseal(u, b) for u, b in zip(user_ids, blobs)]

    def _unseal(self, user_id: str, blob: bytes) -> UserRecord:
        record = UserRecord.unseal(blob, self._cipher)
        if record.user_id != user_id:
            raise StoreConfigError(f"redis {self._k_user}{user_id} holds another user's record")
        return record

    async def close(self) -> None:
        await self._follower.stop()
        await self._r.aclose()
        await self._rs.aclose()

    async def _apply_events(self, events: list[tuple[str, str]]) -> None:
        """Stream events name users that changed; fetch their current state (absent = deleted)."""
        ids = list(dict.fromkeys(uid for op, uid in events if op in ("put", "del")))
        if not ids:
            return
        mirror = self._mirror
        for uid, record in zip(ids, await self._fetch(ids)):
            if record is None:
                await mirror.delete(uid)
            else:
                await mirror.put(record)

    # --- writes ---------------------------------------------------------------------------
    async def _learn_dim(self, dim: int) -> None:
        if self._mirror.dim is None:
            await self._r.hsetnx(self._k_meta, "dim", dim)
            self._mirror.fix_dim(int(await self._r.hget(self._k_meta, "dim")))
        self._mirror.fix_dim(dim)

    async def _write(self, user_id: str, build, op: str = "put") -> UserRecord | None:
        """One optimistic transaction on a user: build(current_record_or_None) -> new record (or None)."""
        key = self._k_user + user_id
        with unavailable():
            async with self._r.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        blob = await pipe.get(key)
                        record = build(None if blob is None else self._unseal(user_id, blob))
                        pipe.multi()
                        if op == "put":
                            pipe.set(key, record.seal(self._cipher))
                            pipe.zadd(self._k_users, {user_id: record.created_at})
                        else:
                            pipe.delete(key)
                            pipe.zrem(self._k_users, user_id)
                        pipe.xadd(self._k_events, {"op": op, "id": user_id},
                                  maxlen=self._config.redis_stream_maxlen, approximate=True)
                        result = await pipe.execute()
                        break
                    except WatchError:
                        continue  # another replica changed this user meanwhile: rebuild on its state
        event_id = result[-1].decode()
        # Read-your-writes: return once our own index shows the change (the follower applies it).
        if not await self._follower.wait_for(event_id, self._config.redis_timeout_s):
            log.warning("local index did not catch up with %s in time", event_id)
        return record

    async def create_user(self, name: str, embeddings: list[np.ndarray], metadata: dict | None = None,
                          user_id: str | None = None) -> User:
        fresh = new_record(name, embeddings, metadata, user_id, self._mirror.dim, self._config.max_enrollments)
        with unavailable():
            await self._learn_dim(fresh.dim)

        def build(current):
            if current is not None:
                raise UserExists(fresh.user_id)
            return fresh

        return (await self._write(fresh.user_id, build)).to_user()

    async def add_enrollment(self, user_id: str, embedding: np.ndarray) -> User:
        emb = as_embedding(embedding, self._mirror.dim)

        def build(current):
            if current is None:
                raise UserNotFound(user_id)
            check_room(current.embeddings.shape[0], self._config.max_enrollments)
            if current.dim != emb.shape[0]:
                raise InvalidEmbedding(f"embedding has {emb.shape[0]} dims, the store holds {current.dim}")
            return current.with_enrollment(emb, time.time())

        return (await self._write(user_id, build)).to_user()

    async def delete_user(self, user_id: str) -> None:
        def build(current):
            if current is None:
                raise UserNotFound(user_id)
            return current

        await self._write(user_id, build, op="del")

    async def import_records(self, records: list[UserRecord]) -> None:
        for r in records:
            self._mirror.fix_dim(r.dim)
        with unavailable():
            if records:
                await self._learn_dim(records[0].dim)
            last = None
            for i in range(0, len(records), _CHUNK):
                async with self._r.pipeline(transaction=True) as pipe:
                    for r in records[i:i + _CHUNK]:
                        pipe.set(self._k_user + r.user_id, r.seal(self._cipher))
                        pipe.zadd(self._k_users, {r.user_id: r.created_at})
                        pipe.xadd(self._k_events, {"op": "put", "id": r.user_id},
                                  maxlen=self._config.redis_stream_maxlen, approximate=True)
                    last = (await pipe.execute())[-1].decode()
        if last is not None:
            await self._follower.wait_for(last, max(10.0, self._config.redis_timeout_s))

    # --- reads ----------------------------------------------------------------------------
    async def _get(self, user_id: str) -> UserRecord:
        with unavailable():
            blob = await self._r.get(self._k_user + user_id)
        if blob is None:
            raise UserNotFound(user_id)
        return self._unseal(user_id, blob)

    async def get_user(self, user_id: str) -> User:
        return (await self._get(user_id)).to_user()

    async def list_users(self, offset: int = 0, limit: int = 50) -> Page:
        check_page(offset, limit)
        with unavailable():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.zrange(self._k_users, offset, offset + limit - 1)
                pipe.zcard(self._k_users)
                ids, total = await pipe.execute()
            records = await self._fetch([b.decode() for b in ids]) if ids else []
        return Page([r.to_user() for r in records if r is not None], total, offset, limit)

    async def count(self) -> int:
        with unavailable():
            return await self._r.zcard(self._k_users)

    async def score(self, user_id: str, embedding: np.ndarray) -> float:
        query = as_embedding(embedding, self._mirror.dim)
        try:
            record = await self._get(user_id)
        except StorageUnavailable:
            # The durable copy is out of reach; the local index still knows enrolled users.
            local = await self._mirror.score(user_id, query)
            if local is None:
                raise
            return local
        if record.dim != query.shape[0]:
            raise InvalidEmbedding(f"embedding has {query.shape[0]} dims, the store holds {record.dim}")
        rows = index_rows(record.embeddings, self._config.score_policy)
        return float(np.max(rows @ normalise(query)[0]))

    async def search(self, embedding: np.ndarray, k: int = 5) -> list[Match]:
        if not 1 <= k <= 1000:
            raise InvalidRequest("k must be between 1 and 1000")
        return await self._mirror.search(embedding, k)

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
                **self._mirror.stats()}

    # --- backup / rotation ----------------------------------------------------------------
    async def export_records(self) -> AsyncIterator[UserRecord]:
        """Every record whole; point-in-time when no write lands during the read (retried a few times)."""
        with unavailable():
            for _ in range(3):
                start = (await self._r.xinfo_stream(self._k_events))["last-generated-id"]
                records = await self._load_all()
                if (await self._r.xinfo_stream(self._k_events))["last-generated-id"] == start:
                    break
            else:
                log.warning("writes kept landing during the backup: each user is captured whole, "
                            "but not all at one instant")
        for r in sorted(records, key=lambda r: (r.created_at, r.user_id)):
            yield r

    async def rotate_key(self, new_cipher: Cipher) -> int:
        """Re-seal every record with the new key (run with replicas stopped: they hold the old key)."""
        old, n = self._cipher, 0
        with unavailable():
            ids = [b.decode() for b in await self._r.zrange(self._k_users, 0, -1)]
            for i in range(0, len(ids), _CHUNK):
                chunk = [r for r in await self._fetch(ids[i:i + _CHUNK]) if r is not None]
                async with self._r.pipeline(transaction=True) as pipe:
                    for r in chunk:
                        pipe.set(self._k_user + r.user_id, r.seal(new_cipher))
                    await pipe.execute()
                n += len(chunk)
            self._cipher = new_cipher
            await self._r.hset(self._k_meta, "key_id", new_cipher.key_id)
        log.info("re-encrypted %d users (key %s -> %s)", n, old.key_id, new_cipher.key_id)
        return n
