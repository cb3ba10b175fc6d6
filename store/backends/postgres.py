"""The postgres backend: PostgreSQL holds the durable copy (asyncpg); each replica keeps its own index.

Tables and the change feed: store.backends.postgres_feed. A write is one transaction (serialised on the
change counter's row lock): the user's row (record sealed under its data key, bound to id + version; the
wrapped data key), a change row and a NOTIFY; it is acknowledged after COMMIT, which every session of this
store runs with synchronous_commit on, and the server must run fsync on (checked at start). Replicas follow
with the same snapshot + tail logic as the redis backend (store.backends.replica, .follower) and quarantine
records they cannot verify. DELETE removes the row and with it the wrapped data key.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from .. import clock
from ..config import StorageConfig
from ..crypto import Cipher, load_cipher
from ..datakeys import wrap
from ..errors import StorageUnavailable, StoreConfigError, UserNotFound
from ..models import Page
from ..records import UserRecord
from ..retention import Sweeper
from ..validation import check_page
from .postgres_feed import TRANSIENT, PgFollower, PgSource, Tables, new_tag, position
from .postgres_retention import PgRetention
from .replica import ReplicaView
from .replicated import ReplicatedStore

log = logging.getLogger(__name__)


@contextlib.contextmanager
def unavailable():
    """Driver errors become the store's typed errors (503, or a config error naming the setting)."""
    try:
        yield
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise StoreConfigError(f"storage.db_password: postgres refused the credentials: {exc}") from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise StoreConfigError(f"storage.db_name: {exc}") from None
    except TRANSIENT as exc:
        raise StorageUnavailable(f"postgres unreachable: {exc}") from None


class PostgresStore(ReplicatedStore):
    backend = "postgres"

    def __init__(self, config: StorageConfig, cipher: Cipher | None = None):
        self._config = config
        self._t = Tables(config.db_table_prefix)
        self._cipher0 = cipher or load_cipher(config)
        self._pool: asyncpg.Pool | None = None
        self._view: ReplicaView | None = None
        self._follower: PgFollower | None = None
        self._uses = PgRetention(config, lambda: self._pool, self._t)
        self._sweeper = Sweeper(self, self._uses.policy)

    def _connect_args(self) -> dict:
        c = self._config
        args = dict(timeout=c.db_timeout_s, command_timeout=c.db_timeout_s,
                    server_settings={"synchronous_commit": "on", "application_name": "vomid-store"})
        if c.db_dsn:
            return dict(args, dsn=c.db_dsn)
        return dict(args, host=c.db_host, port=c.db_port, database=c.db_name, user=c.db_user, password=c.db_password)

    _unavailable = staticmethod(unavailable)

    @property
    def _cipher(self) -> Cipher:
        return self._view.cipher if self._view else self._cipher0

    # --- start-up / shutdown --------------------------------------------------------------
    async def open(self) -> None:
        try:
            with unavailable():
                self._pool = await asyncpg.create_pool(min_size=1, max_size=self._config.db_pool_size,
                                                       **self._connect_args())
                await self._prepare()
                self._view = ReplicaView(self._config, self._cipher0, PgSource(self._pool, self._t), self.metrics)
                if (dim := await self._meta("dim")) is not None:
                    self._view.mirror.fix_dim(int(dim))
                start = await self._view.reload()
        except BaseException:
            await self.close()
            raise
        self._follower = PgFollower(self._pool, self._t, lambda: asyncpg.connect(**self._connect_args()),
                                    self._view.apply_events, self._view.reload,
                                    on_reload=lambda code: self.metrics.reloads.labels(code).inc())
        self._follower.start(start)
        self._sweeper.start()
        log.info("postgres store opened", extra={"users": len(self._mirror.names)})

    async def _prepare(self) -> None:
        if await self._pool.fetchval("SHOW fsync") != "on":
            raise StoreConfigError("storage.type: the postgres server runs fsync=off: commits would not be durable")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._t.lock_key)  # racing DDL
            for statement in self._t.ddl():
                await conn.execute(statement)
            await conn.execute(f"INSERT INTO {self._t.meta} (k, v) VALUES ('format', '2'), ('key_ids', $1) "
                               "ON CONFLICT DO NOTHING", self._cipher0.key_id)
        key_ids = (await self._meta("key_ids")).split(",")
        if not any(self._cipher0.knows(k) for k in key_ids):
            raise StoreConfigError(f"storage.encryption_key: postgres data is wrapped under key id(s) "
                                   f"{', '.join(key_ids)}, but the configured key has id {self._cipher0.key_id}: "
                                   "wrong key")
        dim = await self._meta("dim")
        if dim is not None and self._config.dim is not None and int(dim) != self._config.dim:
            raise StoreConfigError(f"storage.dim: configured {self._config.dim}, the store holds {dim}")

    async def _meta(self, key: str) -> str | None:
        return await self._pool.fetchval(f"SELECT v FROM {self._t.meta} WHERE k = $1", key)

    async def close(self) -> None:
        await self._sweeper.stop()
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # --- writes ---------------------------------------------------------------------------
    async def _learn_dim(self, dim: int) -> None:
        if self._mirror.dim is None:
            await self._pool.execute(f"INSERT INTO {self._t.meta} (k, v) VALUES ('dim', $1) ON CONFLICT DO NOTHING",
                                     str(dim))
            self._mirror.fix_dim(int(await self._meta("dim")))
        self._mirror.fix_dim(dim)

    async def _apply(self, conn, op: str, user_id: str, build) -> tuple[UserRecord | None, int, int]:
        """Inside a transaction: one change of one user, its change row and NOTIFY; returns (record, seq, tag)."""
        seq = await conn.fetchval(f"UPDATE {self._t.meta} SET v = (v::bigint + 1)::text WHERE k = 'seq' "
                                  "RETURNING v::bigint")   # the row lock orders every writer
        row = await conn.fetchrow(f"SELECT record, wraps, version FROM {self._t.users} WHERE user_id = $1", user_id)
        version = (row["version"] if row else 0) + 1
        if op == "del":   # erasure never depends on decrypting what is erased
            if row is None:
                raise UserNotFound(user_id)
            record = None
        else:
            current = self._view.decode(user_id, row["record"], row["wraps"], row["version"]) if row else None
            record = build(current)
        if op == "put":
            new_key = current is None or current.data_key != record.data_key
            wraps = wrap(record.data_key, self._cipher, user_id) if new_key else row["wraps"]
            await conn.execute(
                f"INSERT INTO {self._t.users} (user_id, created_at, version, wraps, record, last_use) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET created_at = $2, "
                "version = $3, wraps = $4, record = $5, last_use = $6",
                user_id, record.created_at, version, wraps, record.seal(version), record.last_use)
        else:
            await conn.execute(f"DELETE FROM {self._t.users} WHERE user_id = $1", user_id)
        tag = new_tag()
        await conn.execute(f"INSERT INTO {self._t.events} (seq, op, user_id, version, tag) VALUES ($1, $2, $3, $4, $5)",
                           seq, op, user_id, version, tag)
        await conn.execute(f"DELETE FROM {self._t.events} WHERE seq <= $1", seq - self._config.redis_stream_maxlen)
        await conn.execute("SELECT pg_notify($1, $2)", self._t.channel, str(seq))
        return record, seq, tag

    async def _write(self, user_id: str, build, op: str = "put") -> UserRecord | None:
        with unavailable():
            async with self._pool.acquire() as conn, conn.transaction():
                record, seq, tag = await self._apply(conn, op, user_id, build)
        # Read-your-writes: return once our own index shows the change.
        if not await self._follower.wait_for(position(seq, tag), self._config.db_timeout_s):
            log.warning("local index did not catch up with change %d in time", seq)
        return record

    async def import_records(self, records: list[UserRecord]) -> None:
        records = [r if r.data_key is not None else r.with_key() for r in records]
        if not records:
            return
        for r in records:
            self._mirror.fix_dim(r.dim)
        with unavailable():
            await self._learn_dim(records[0].dim)
            async with self._pool.acquire() as conn, conn.transaction():   # one commit for the chunk
                for r in records:
                    _, seq, tag = await self._apply(conn, "put", r.user_id, lambda _current, r=r: r)
        await self._follower.wait_for(position(seq, tag), max(10.0, self._config.db_timeout_s))

    # --- reads ----------------------------------------------------------------------------
    async def list_users(self, offset: int = 0, limit: int = 50) -> Page:
        check_page(offset, limit)
        with unavailable():
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                ids = [r["user_id"] for r in await conn.fetch(
                    f"SELECT user_id FROM {self._t.users} ORDER BY created_at, user_id OFFSET $1 LIMIT $2",
                    offset, limit)]
                total = await conn.fetchval(f"SELECT count(*) FROM {self._t.users}")
            rows = await self._view.fetch(ids, strict=False) if ids else []
        return Page([r.to_user() for r, _ in rows if r is not None], total, offset, limit)

    async def count(self) -> int:
        with unavailable():
            return await self._pool.fetchval(f"SELECT count(*) FROM {self._t.users}")

    async def health(self) -> dict:
        try:
            with unavailable():
                await self._pool.fetchval("SELECT 1")
            up = True
        except StorageUnavailable:
            up = False
        f = self._follower
        return {"backend": self.backend, "ok": up, "postgres": "up" if up else "down", "change": f.last_id,
                "follower_connected": f.connected, "reloads": f.reloads, "quarantined": len(self._view.quarantined),
                **self._mirror.stats()}

    # --- backup / keys / retention --------------------------------------------------------
    async def export_records(self) -> AsyncIterator[UserRecord]:
        with unavailable():
            rows = await self._view.load_all()
        for r, _ in rows:
            yield r

    async def _touch(self, user_id: str) -> None:
        with unavailable():
            await self._uses.touch(user_id)

    async def last_uses(self) -> dict[str, float]:
        with unavailable():
            return await self._uses.last_uses()

    async def expire_unused(self, now: float | None = None) -> list[str]:
        now = clock.now() if now is None else now
        with unavailable():
            won = await self._uses.lease(now)
        return await super().expire_unused(now) if won else []

    async def rotate_key(self, new_cipher: Cipher) -> int:
        raise StoreConfigError("storage.type: key rotation is not built for the postgres backend yet: back up, "
                               "then restore into a new db_table_prefix configured with the new key")
