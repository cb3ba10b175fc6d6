"""The memory backend: everything in process, nothing survives a restart (tests, demos).

It is also the base of the file backend, which only adds persistence through the
`_persist_*` hooks: validation, ordering and the index live here once.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np

from .. import clock
from ..base import VoiceprintStore
from ..config import StorageConfig
from ..datakeys import DataKey
from ..embeddings import as_embedding
from ..errors import InvalidRequest, UserExists, UserNotFound
from ..local_view import LocalView
from ..models import Match, Page, User
from ..records import UserRecord
from ..retention import Retention, Sweeper
from ..validation import check_page, check_room, new_record


class MemoryStore(VoiceprintStore):
    backend = "memory"

    def __init__(self, config: StorageConfig):
        self._config = config
        self._mirror = LocalView(config, keep_records=True)
        # Writes are serialised: a write is persisted, then applied, before the next starts,
        # so the order on disk is the order in memory.
        self._write_lock = asyncio.Lock()
        self._retention = Retention(config)
        self._sweeper = Sweeper(self, self._retention)

    # --- persistence hooks (no-ops here) --------------------------------------------------
    async def _persist_put(self, records: list[UserRecord]) -> None:
        pass

    async def _persist_delete(self, user_id: str) -> None:
        pass

    async def _after_write(self, deleted: bool = False) -> None:
        pass

    async def _persist_touch(self, user_id: str, when: float) -> None:
        pass

    async def open(self) -> None:
        self._sweeper.start()

    async def close(self) -> None:
        await self._sweeper.stop()

    # --- writes ---------------------------------------------------------------------------
    async def create_user(self, name: str, embeddings: list[np.ndarray], metadata: dict | None = None,
                          user_id: str | None = None, model_id: str | None = None) -> User:
        record = new_record(name, embeddings, metadata, user_id, self._mirror.dim, self._config.max_enrollments,
                           model_id)
        async with self._write_lock:
            if record.user_id in self._mirror.records:
                raise UserExists(record.user_id)
            self._mirror.fix_dim(record.dim)
            await self._commit(record)
        return record.to_user()

    async def add_enrollment(self, user_id: str, embedding: np.ndarray, model_id: str | None = None) -> User:
        emb = as_embedding(embedding, self._mirror.dim)
        async with self._write_lock:
            record = self._record(user_id)
            check_room(record.embeddings.shape[0], self._config.max_enrollments)
            record = record.with_enrollment(emb, clock.now(), model_id)
            await self._commit(record)
        return record.to_user()

    async def _commit(self, record: UserRecord) -> None:
        await self._persist_put([record])
        await self._mirror.put(record)
        await self._after_write()

    async def delete_user(self, user_id: str) -> None:
        async with self._write_lock:
            self._record(user_id)
            await self._persist_delete(user_id)
            await self._mirror.delete(user_id)
            await self._after_write(deleted=True)

    async def import_records(self, records: list[UserRecord]) -> None:
        records = [r if r.data_key is not None else r.with_key() for r in records]
        async with self._write_lock:
            for r in records:
                self._mirror.fix_dim(r.dim)
            await self._persist_put(records)
            for r in records:
                await self._mirror.put(r)
            await self._after_write()

    # --- reads ----------------------------------------------------------------------------
    def _record(self, user_id: str) -> UserRecord:
        record = self._mirror.records.get(user_id)
        if record is None:
            raise UserNotFound(user_id)
        return record

    async def get_user(self, user_id: str) -> User:
        return self._record(user_id).to_user()

    async def list_users(self, offset: int = 0, limit: int = 50) -> Page:
        check_page(offset, limit)
        records = list(self._mirror.records.values())
        return Page([r.to_user() for r in records[offset:offset + limit]], len(records), offset, limit)

    async def count(self) -> int:
        return len(self._mirror.records)

    async def score(self, user_id: str, embedding: np.ndarray) -> float:
        score = await self._mirror.score(user_id, embedding)
        if score is None:
            raise UserNotFound(user_id)
        await self._touch(user_id)
        return score

    async def _touch(self, user_id: str) -> None:
        """Record a verification as use (coarsely: see store.retention)."""
        now = clock.now()
        record = self._mirror.records.get(user_id)
        if record is None or not self._retention.needs_touch(record.last_use, now):
            return
        async with self._write_lock:
            record = self._mirror.records.get(user_id)
            if record is not None:
                await self._persist_touch(user_id, now)
                self._mirror.records[user_id] = replace(record, last_used=now)

    async def last_uses(self) -> dict[str, float]:
        return {u: r.last_use for u, r in self._mirror.records.items()}

    async def search(self, embedding: np.ndarray, k: int = 5) -> list[Match]:
        if not 1 <= k <= 1000:
            raise InvalidRequest("k must be between 1 and 1000")
        return await self._mirror.search(embedding, k)

    async def health(self) -> dict:
        return {"backend": self.backend, "ok": True, **self._mirror.stats()}

    async def data_keys(self, user_ids: list[str]) -> dict[str, DataKey]:
        records = self._mirror.records
        return {u: records[u].data_key for u in user_ids if u in records}

    async def export_records(self) -> AsyncIterator[UserRecord]:
        # Records are immutable and replaced whole, so a copy of the dict is a consistent snapshot.
        async with self._write_lock:
            snapshot = list(self._mirror.records.values())
        for r in snapshot:
            yield r
