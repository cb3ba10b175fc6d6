"""Keeps one replica's local view in step with the shared Redis Stream of changes.

Each event only says "user X changed" ({op, id}); the follower then fetches X's current
record (or learns it is gone), so applying an event twice or late is harmless and a fresh
replica can start from a snapshot plus the tail. If the stream was trimmed past the last event
this replica saw, events may be lost: the follower reloads everything instead.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

BATCH = 500


def sid(stream_id: bytes | str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence)."""
    s = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = s.partition("-")
    return int(ms), int(seq or 0)


class StreamFollower:
    def __init__(self, client: aioredis.Redis, stream: str,
                 apply: Callable[[list[tuple[str, str]]], Awaitable[None]],
                 reload: Callable[[], Awaitable[str]], block_ms: int = 1000):
        self._r = client
        self._stream = stream
        self._apply = apply      # [(op, user_id)] in stream order
        self._reload = reload    # rebuild the view from a snapshot; returns the id to go on from
        self._block_ms = block_ms
        self.last_id = "0-0"
        self.connected = False
        self.reloads = 0
        self.last_applied_at: float | None = None
        self._advanced = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self, from_id: str) -> None:
        self.last_id = from_id
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="voiceprint-stream")

    async def stop(self) -> None:
        if self._task is None:
            return
        # The flag as well as cancel(): a cancellation that lands inside the client's own
        # timeout handling can come out as a TimeoutError, which the loop would retry forever.
        self._stopping = True
        self._task.cancel()
        try:
            await asyncio.wait_for(self._task, 5.0)
        except (asyncio.CancelledError, asyncio.TimeoutError):
            pass
        self._task = None

    async def wait_for(self, stream_id: str, timeout: float) -> bool:
        """Wait until this replica has applied `stream_id` (read-your-writes for the local index)."""
        deadline = time.monotonic() + timeout
        while sid(self.last_id) < sid(stream_id):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._advanced.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                await self._step()
                self.connected, backoff = True, 0.05
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                if self.connected:
                    log.warning("change stream unreachable: %s", exc)
                self.connected = False
                await asyncio.sleep(backoff)  # retry pacing of a background loop, not a test wait
                backoff = min(2.0, backoff * 2)
            except Exception:  # a bug must not silently stop replication: log it loudly and go on
                log.exception("change stream follower failed; retrying")
                await asyncio.sleep(1.0)

    async def _step(self) -> None:
        # The gap check and the read are one transaction, so trimming cannot slip between them.
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xinfo_stream(self._stream)
            pipe.xread({self._stream: self.last_id}, count=BATCH)
            info, batch = await pipe.execute()
        if self._missed(info):
            log.warning("replica fell behind the trimmed change stream; reloading")
            self.reloads += 1
            self._advance(await self._reload())
            return
        entries = batch[0][1] if batch else []
        if entries:
            await self._apply([(f[b"op"].decode(), f[b"id"].decode()) for _, f in entries])
            self.last_applied_at = time.time()
            self._advance(entries[-1][0].decode())
        if len(entries) < BATCH:
            # Nothing (more) to read: park in a blocking read until something newer exists.
            await self._r.xread({self._stream: self.last_id}, count=1, block=self._block_ms)

    def _missed(self, info: dict) -> bool:
        last = sid(self.last_id)
        if sid(info["last-generated-id"]) <= last:
            return False
        first = info.get("first-entry")
        # Newer entries exist; if the oldest one kept is past ours, what lay between may be gone.
        return first is None or sid(first[0]) > last

    def _advance(self, stream_id: str) -> None:
        self.last_id = stream_id
        self._advanced.set()
        self._advanced = asyncio.Event()
