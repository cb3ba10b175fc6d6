"""Start-up checks of a Redis store's <p>:meta, and the heartbeat each open store leaves in <p>:nodes.

meta holds the data format, the main key ids every user's data key is wrapped under (key rotation moves
it at its commit point) and the dimension. The heartbeat says which key each running store writes with
and which it can read, so key rotation can refuse to commit while a router could not read the result,
and can tell when nothing uses the old key any more.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..crypto import Cipher
from ..errors import StoreConfigError
from .redis_layout import FORMAT, HEARTBEAT_S, Keys


async def check_meta(r: aioredis.Redis, k: Keys, cipher: Cipher, dim: int | None) -> int | None:
    """Refuse a wrong key, version 1 data or a dimension mismatch; returns the stored dimension."""
    meta = await r.hgetall(k.meta)
    if b"key_id" in meta and b"format" not in meta:
        raise StoreConfigError(
            f"storage.redis_prefix: {k.meta} holds version 1 data (records without per-user keys): "
            "`python -m store backup` it with the previous release, then `python -m store restore "
            "--legacy-backup` it into an empty prefix")
    if b"format" not in meta:
        await r.hsetnx(k.meta, "key_ids", cipher.key_id)
        await r.hsetnx(k.meta, "format", FORMAT)
        meta = await r.hgetall(k.meta)
    key_ids = meta[b"key_ids"].decode().split(",")
    if not any(cipher.knows(kid) for kid in key_ids):
        raise StoreConfigError(f"storage.encryption_key: redis {k.meta} data is wrapped under key id(s) "
                               f"{', '.join(key_ids)}, but the configured key has id {cipher.key_id}: wrong key")
    if b"dim" not in meta:
        return None
    stored = int(meta[b"dim"])
    if dim is not None and dim != stored:
        raise StoreConfigError(f"storage.dim: configured {dim}, the store holds {stored}")
    return stored


async def beat(r: aioredis.Redis, k: Keys, node_id: str, cipher: Cipher) -> None:
    await r.hset(k.nodes, node_id, json.dumps({"write_key": cipher.key_id, "keys": cipher.key_ids,
                                               "t": time.time()}))


async def heartbeat_forever(r: aioredis.Redis, k: Keys, node_id: str, cipher_now) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)   # a background cadence, not a wait for a condition
        with contextlib.suppress(RedisError, OSError):
            await beat(r, k, node_id, cipher_now())
