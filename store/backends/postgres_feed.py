"""PostgreSQL tables of one store (one table prefix), where replicas read them, and how they follow changes.

  <p>_meta    k -> v: format, key_ids, dim, seq (the change counter), sweep (retention lock)
  <p>_users   user_id, created_at, version, wraps (data key wrapped by the main key), record (sealed under
              the data key, bound to user id + version), last_use
  <p>_events  seq, op, user_id, version, tag: the change table, trimmed to storage.redis_stream_maxlen rows
Every write takes the `seq` row lock first, so changes commit in sequence order and a follower reading
`seq > last` never skips one; it also NOTIFYs <p>_events at commit. A follower wakes on the notification
(or polls each second) and reloads everything when the tail cannot be trusted: trimmed past its
position, or a different history (the event at its position has another random tag, or the newest seq
went backwards: the database was restored from an older backup or failed over to a lagging standby).
"""
from __future__ import annotations

import asyncio
import secrets

import asyncpg

from .follower import ChangeFollower

BATCH = 500
TRANSIENT = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
             asyncpg.CannotConnectNowError)


class Tables:
    def __init__(self, prefix: str):
        self.meta, self.users, self.events = (f'"{prefix}_{t}"' for t in ("meta", "users", "events"))
        self.channel = f"{prefix}_events"
        self.lock_key = prefix

    def ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.meta} (k text PRIMARY KEY, v text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.users} (user_id text PRIMARY KEY, created_at double precision "
            "NOT NULL, version bigint NOT NULL, wraps bytea NOT NULL, record bytea NOT NULL, "
            "last_use double precision NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS \"{self.channel}_by_created\" ON {self.users} (created_at, user_id)",
            f"CREATE TABLE IF NOT EXISTS {self.events} (seq bigint PRIMARY KEY, op text NOT NULL, "
            "user_id text NOT NULL, version bigint NOT NULL, tag bigint NOT NULL)",
            f"INSERT INTO {self.meta} (k, v) VALUES ('seq', '0') ON CONFLICT DO NOTHING",
        ]


def new_tag() -> int:
    return secrets.randbits(62)


def position(seq: int, tag: int) -> str:
    return f"{seq}:{tag}"


def parse(pos: str) -> tuple[int, int]:
    seq, _, tag = pos.partition(":")
    return int(seq), int(tag or 0)


class PgSource:
    """store.backends.replica.Source for PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool, t: Tables):
        self.pool, self.t = pool, t

    async def rows(self, user_ids: list[str]) -> list[tuple]:
        found = {r["user_id"]: (r["record"], r["wraps"], r["version"]) for r in await self.pool.fetch(
            f"SELECT user_id, record, wraps, version FROM {self.t.users} WHERE user_id = ANY($1)", user_ids)}
        return [found.get(u, (None, None, None)) for u in user_ids]

    async def all_ids(self) -> list[str]:
        return [r["user_id"] for r in await self.pool.fetch(
            f"SELECT user_id FROM {self.t.users} ORDER BY created_at, user_id")]

    async def position(self) -> str:
        row = await self.pool.fetchrow(f"SELECT seq, tag FROM {self.t.events} ORDER BY seq DESC LIMIT 1")
        return position(row["seq"], row["tag"]) if row else position(0, 0)

    async def wraps(self, user_ids: list[str]) -> list[bytes | None]:
        found = {r["user_id"]: r["wraps"] for r in await self.pool.fetch(
            f"SELECT user_id, wraps FROM {self.t.users} WHERE user_id = ANY($1)", user_ids)}
        return [found.get(u) for u in user_ids]


class PgFollower(ChangeFollower):
    transient = TRANSIENT
    START = "0:0"

    def __init__(self, pool: asyncpg.Pool, t: Tables, connect, apply, reload, on_reload=None):
        super().__init__(apply, reload, on_reload, name="voiceprint-pg-changes")
        self._pool, self._t, self._connect = pool, t, connect
        self._listener: asyncpg.Connection | None = None
        self._wake = asyncio.Event()

    @staticmethod
    def order(pos: str) -> tuple:
        return (parse(pos)[0],)

    async def stop(self) -> None:
        await super().stop()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close(timeout=2)
        self._listener = None

    async def _listen(self) -> None:
        if self._listener is None or self._listener.is_closed():
            self._listener = await self._connect()
            await self._listener.add_listener(self._t.channel, lambda *_: self._wake.set())

    async def _step(self) -> None:
        await self._listen()
        self._wake.clear()   # a notification during the read below wakes the wait at the end at once
        seq, tag = parse(self.last_id)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            lo, hi = await conn.fetchrow(f"SELECT min(seq), max(seq) FROM {self._t.events}")
            here = await conn.fetchval(f"SELECT tag FROM {self._t.events} WHERE seq = $1", seq)
            rows = await conn.fetch(f"SELECT seq, op, user_id, version, tag FROM {self._t.events} WHERE seq > $1 "
                                    "ORDER BY seq LIMIT $2", seq, BATCH)
        reason = self._distrust(seq, tag, lo, hi, here)
        if reason:
            await self.reload(*reason)
            return
        if rows:
            await self.applied([(r["op"], r["user_id"], r["version"]) for r in rows],
                               position(rows[-1]["seq"], rows[-1]["tag"]))
        if len(rows) < BATCH:
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0)   # NOTIFY, or poll again after a second
            except asyncio.TimeoutError:
                pass

    @staticmethod
    def _distrust(seq: int, tag: int, lo, hi, here) -> tuple[str, str] | None:
        if seq == 0:
            return None
        if hi is None or hi < seq:
            return "stream_regressed", ("the change table went backwards (database restored from an older "
                                        "backup or failed over to a lagging standby)")
        if here is not None:
            if tag and here != tag:
                return "history_rewritten", "the change at this replica's position is a different one (restored)"
            return None
        if lo <= seq:
            return "history_rewritten", "the change this replica applied last is gone although older ones are there"
        return "trimmed", "this replica fell behind the trimmed change table"
