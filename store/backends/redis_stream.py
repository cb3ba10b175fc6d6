"""Keeps one replica's local view in step with the shared Redis Stream of changes.

Each event only says "user X changed" ({op, id, v}); the follower then fetches X's current record (or
learns it is gone), so applying an event twice or late is harmless and a fresh replica can start from a
snapshot plus the tail. The follower reloads everything instead when it cannot trust the tail: the
stream was trimmed past the last event it applied, the stream is gone (flushed, a new Redis), or the
history changed under it: the last event it applied is no longer there although older ones are, or the
stream's newest id went backwards (Redis restored from an older AOF/RDB, failover to a lagging replica).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

log = logging.getLogger(__name__)

BATCH = 500


def sid(stream_id: bytes | str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence)."""
    s = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = s.partition("-")
    return int(ms), int(seq or 0)


class StreamFollower:
    def __init__(self, client: aioredis.Redis, stream: str,
                 apply: Callable[[list[tuple[str, str, int]]], Awaitable[None]],
                 reload: Callable[[], Awaitable[str]], block_ms: int = 1000,
                 on_reload: Callable[[str], None] | None = None):
        self._r = client
        self._stream = stream
        self._apply = apply      # [(op, user_id, version)] in stream order
        self._reload = reload    # rebuild the view from a snapshot; returns the id to go on from
        self._on_reload = on_reload or (lambda reason: None)
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
        # The checks and the read are one transaction, so trimming cannot slip between them.
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.xinfo_stream(self._stream)
                pipe.xrange(self._stream, self.last_id, self.last_id)
                pipe.xread({self._stream: self.last_id}, count=BATCH)
                info, here, batch = await pipe.execute()
        except ResponseError as exc:
            if "no such key" not in str(exc):
                raise
            await self.reload("stream_gone", "the change stream is gone (Redis flushed or replaced)")
            return
        reason = self._distrust(info, bool(here))
        if reason:
            await self.reload(*reason)
            return
        entries = batch[0][1] if batch else []
        if entries:
            await self._apply([(f[b"op"].decode(), f[b"id"].decode(), int(f.get(b"v", 0))) for _, f in entries])
            self.last_applied_at = time.time()
            self._advance(entries[-1][0].decode())
        if len(entries) < BATCH:
            # Nothing (more) to read: park in a blocking read until something newer exists.
            await self._r.xread({self._stream: self.last_id}, count=1, block=self._block_ms)

    async def reload(self, code: str, reason: str) -> None:
        log.warning("reloading every user: %s", reason)
        self.reloads += 1
        self._on_reload(code)
        self._advance(await self._reload())

    def _distrust(self, info: dict, last_is_there: bool) -> tuple[str, str] | None:
        """(metric label, why) the tail after this replica's position cannot be trusted, or None."""
        last = sid(self.last_id)
        newest = sid(info["last-generated-id"])
        if newest < last:
            return "stream_regressed", ("the change stream went backwards (Redis restored from an older copy "
                                        "or failed over to a lagging replica)")
        if last_is_there or last == (0, 0):
            return None
        first = info.get("first-entry")
        if first is not None and sid(first[0]) <= last:
            return "history_rewritten", ("the last change this replica applied is no longer in the stream "
                                         "although older ones are (Redis restored from an older copy or failed over)")
        if newest > last:
            return "trimmed", "this replica fell behind the trimmed change stream"
        return None

    def _advance(self, stream_id: str) -> None:
        self.last_id = stream_id
        self._advanced.set()
        self._advanced = asyncio.Event()
