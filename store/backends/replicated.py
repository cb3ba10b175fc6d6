"""What the Redis and PostgreSQL stores share: the durable copy is a server, reads come from this replica's view.

Writes are read-modify-write through the backend's `_write(user_id, build, op)`: `build` turns the stored record
(None when absent) into the new one, and may refuse. Reads of one user go through the view (decrypted and checked);
search and 1:1 scoring use the view's local index. A backend supplies `_view`, `_write`, `_learn_dim`, `_touch` and
`_unavailable` (its driver's errors as the store's typed ones).
"""
from __future__ import annotations

import numpy as np

from .. import clock
from ..base import VoiceprintStore
from ..datakeys import DataKey
from ..embeddings import as_embedding
from ..errors import InvalidEmbedding, InvalidRequest, UserExists, UserNotFound
from ..models import Match, User
from ..records import UserRecord
from ..validation import check_room, new_record
from .replica import match_record


class ReplicatedStore(VoiceprintStore):
    @property
    def _mirror(self):
        return self._view.mirror

    async def create_user(self, name: str, embeddings: list[np.ndarray], metadata: dict | None = None,
                          user_id: str | None = None, model_id: str | None = None) -> User:
        fresh = new_record(name, embeddings, metadata, user_id, self._mirror.dim, self._config.max_enrollments,
                           model_id)
        with self._unavailable():
            await self._learn_dim(fresh.dim)

        def build(current):
            if current is not None:
                raise UserExists(fresh.user_id)
            return fresh

        return (await self._write(fresh.user_id, build)).to_user()

    async def add_enrollment(self, user_id: str, embedding: np.ndarray, model_id: str | None = None) -> User:
        emb = as_embedding(embedding, self._mirror.dim)

        def build(current):
            if current is None:
                raise UserNotFound(user_id)
            check_room(current.embeddings.shape[0], self._config.max_enrollments)
            if current.dim != emb.shape[0]:
                raise InvalidEmbedding(f"embedding has {emb.shape[0]} dims, the store holds {current.dim}")
            return current.with_enrollment(emb, clock.now(), model_id)

        return (await self._write(user_id, build)).to_user()

    async def delete_user(self, user_id: str) -> None:
        await self._write(user_id, None, op="del")

    async def _get(self, user_id: str) -> UserRecord:
        with self._unavailable():
            (record, _), = await self._view.fetch([user_id], strict=True)
        if record is None:
            raise UserNotFound(user_id)
        return record

    async def get_user(self, user_id: str) -> User:
        return (await self._get(user_id)).to_user()

    async def match(self, user_id: str, embedding: np.ndarray) -> Match:
        return await match_record(self._get, self._mirror, self._config, user_id, embedding, self._touch)

    async def score(self, user_id: str, embedding: np.ndarray) -> float:
        return (await self.match(user_id, embedding)).score

    async def search(self, embedding: np.ndarray, k: int = 5) -> list[Match]:
        if not 1 <= k <= 1000:
            raise InvalidRequest("k must be between 1 and 1000")
        return await self._mirror.search(embedding, k)

    async def data_keys(self, user_ids: list[str]) -> dict[str, DataKey]:
        with self._unavailable():
            return await self._view.data_keys(user_ids)
