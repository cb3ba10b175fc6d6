"""A process-local view of the users: names, (optionally) full records, and the vector index.

The memory and file backends keep everything here; the redis backend keeps only names and
the index (Redis holds the records) and feeds this view from its change stream.
"""
from __future__ import annotations

import asyncio

import numpy as np

from .config import StorageConfig
from .embeddings import as_embedding, index_rows, normalise
from .errors import InvalidEmbedding
from .hnsw_index import VectorIndex
from .models import Match
from .records import UserRecord

# Below this many vectors an index call is cheaper than a thread hop.
_INLINE_BELOW = 2_000


class LocalView:
    """The users as this process holds them: the primary copy for the memory and file backends, a replica of the
    server's records (names and index only) for Redis and PostgreSQL."""

    def __init__(self, config: StorageConfig, keep_records: bool):
        self._config = config
        self.keep_records = keep_records
        self.records: dict[str, UserRecord] = {}   # insertion order == creation order
        self.names: dict[str, str] = {}
        self.models: dict[str, str | None] = {}  # the model that made each user's voiceprint
        self.dim: int | None = config.dim
        self.index: VectorIndex | None = None
        if self.dim is not None:
            self._make_index(self.dim)

    def _make_index(self, dim: int) -> None:
        c = self._config
        self.dim = dim
        self.index = VectorIndex(dim, exact_below=c.exact_search_below, m=c.hnsw_m,
                                 ef_construction=c.hnsw_ef_construction, ef=c.hnsw_ef,
                                 build_threads=c.hnsw_build_threads)

    def fix_dim(self, dim: int) -> None:
        """Learn the dimension from the first enrollment; afterwards a mismatch is an error."""
        if self.dim is None:
            self._make_index(dim)
        elif dim != self.dim:
            raise InvalidEmbedding(f"embedding has {dim} dims, the store holds {self.dim}")

    async def _run(self, fn, *args):
        if self.index is not None and self.index.vectors >= _INLINE_BELOW:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    # --- applying changes -----------------------------------------------------------------
    async def put(self, record: UserRecord) -> None:
        self.fix_dim(record.dim)
        if self.keep_records:
            self.records[record.user_id] = record
        self.names[record.user_id] = record.name
        self.models[record.user_id] = record.model_id
        await self._run(self.index.upsert, record.user_id,
                        index_rows(record.embeddings, self._config.score_policy))

    async def delete(self, user_id: str) -> bool:
        self.records.pop(user_id, None)
        known = self.names.pop(user_id, None) is not None
        self.models.pop(user_id, None)
        if self.index is not None:
            await self._run(self.index.remove, user_id)
        return known

    async def load(self, records: list[UserRecord]) -> None:
        """Bulk start-up load: one index build instead of one insert per user."""
        if not records:
            return
        self.fix_dim(records[0].dim)
        policy = self._config.score_policy
        for r in records:
            self.fix_dim(r.dim)
            if self.keep_records:
                self.records[r.user_id] = r
            self.names[r.user_id] = r.name
            self.models[r.user_id] = r.model_id
        items = [(r.user_id, index_rows(r.embeddings, policy)) for r in records]
        await asyncio.to_thread(self.index.bulk_upsert, items)

    def clear(self) -> None:
        self.records.clear()
        self.names.clear()
        self.models.clear()
        if self.dim is not None:
            self._make_index(self.dim)

    # --- reads ----------------------------------------------------------------------------
    def query_vector(self, embedding) -> np.ndarray:
        return normalise(as_embedding(embedding, self.dim))[0]

    async def score(self, user_id: str, embedding) -> float | None:
        if self.index is None or user_id not in self.index:
            return None
        return await self._run(self.index.score, user_id, self.query_vector(embedding))

    async def search(self, embedding, k: int) -> list[Match]:
        if self.index is None:
            as_embedding(embedding, None)  # still reject garbage on an empty store
            return []
        hits = await self._run(self.index.search, self.query_vector(embedding), k)
        return [Match(uid, self.names.get(uid, ""), score, self.models.get(uid)) for uid, score in hits]

    def stats(self) -> dict:
        return {"users": len(self.names), "dim": self.dim,
                "index": None if self.index is None else
                {"mode": self.index.mode, "vectors": self.index.vectors}}
