"""Keeps one replica's local view in step with the shared Redis Stream of changes.

Each event only says "user X changed" ({op, id, v}); the follower then fetches X's current record (or
learns it is gone), so applying an event twice or late is harmless and a fresh replica can start from a
snapshot plus the tail. The follower reloads everything instead when it cannot trust the tail: the
stream was trimmed past the last event it applied, the stream is gone (flushed, a new Redis), or the
history changed under it: the last event it applied is no longer there although older ones are, or the
stream's newest id went backwards (Redis restored from an older AOF/RDB, failover to a lagging replica).
"""
from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from .follower import ChangeFollower

BATCH = 500


def sid(stream_id: bytes | str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence)."""
    s = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = s.partition("-")
    return int(ms), int(seq or 0)


class StreamFollower(ChangeFollower):
    transient = (RedisError, OSError)
    START = "0-0"

    def __init__(self, client: aioredis.Redis, stream: str, apply, reload, block_ms: int = 1000,
                 on_reload=None):
        super().__init__(apply, reload, on_reload, name="voiceprint-stream")
        self._r = client
        self._stream = stream
        self._block_ms = block_ms

    @staticmethod
    def order(position: str) -> tuple:
        return sid(position)

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
            await self.applied([(f[b"op"].decode(), f[b"id"].decode(), int(f.get(b"v", 0))) for _, f in entries],
                               entries[-1][0].decode())
        if len(entries) < BATCH:
            # Nothing (more) to read: park in a blocking read until something newer exists.
            await self._r.xread({self._stream: self.last_id}, count=1, block=self._block_ms)

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
