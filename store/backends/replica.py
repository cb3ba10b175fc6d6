"""One replica's view of a shared store (Redis, PostgreSQL): how records are read and verified, and the
local index they feed.

A record is unwrapped with the main key(s) this replica holds and opened under the user's data key,
bound to (user id, version). One that fails (a key this replica does not hold, corruption, an older
version replayed over one already applied here) is quarantined: logged with its id, counted in
vomid_store_quarantined_records_total, left out of the view, and nothing else waits for it.
"""
from __future__ import annotations

import asyncio
import logging

import numpy as np

from typing import Protocol

from ..config import StorageConfig
from ..crypto import Cipher
from ..datakeys import DataKey, unwrap
from ..embeddings import as_embedding, index_rows, normalise
from ..errors import CorruptData, InvalidEmbedding, StorageUnavailable, StoreConfigError
from ..metrics import StoreMetrics
from ..local_view import LocalView
from ..models import Match
from ..records import UserRecord
log = logging.getLogger(__name__)
_CHUNK = 1000


class Source(Protocol):
    """Where a replica reads the shared copy from."""

    async def rows(self, user_ids: list[str]) -> list[tuple]:
        """(sealed record or None, wrapped data key, version) per user."""

    async def all_ids(self) -> list[str]:
        """Every user id in creation order."""

    async def position(self) -> str:
        """The current end of the change log (creating it if missing), read before a snapshot."""

    async def wraps(self, user_ids: list[str]) -> list[bytes | None]:
        """Each user's wrapped data key (None: erased)."""


class ReplicaView:
    def __init__(self, config: StorageConfig, cipher: Cipher, source: Source, metrics: StoreMetrics):
        self.config, self.cipher, self.source, self.metrics = config, cipher, source, metrics
        self.mirror = LocalView(config, keep_records=False)
        self.versions: dict[str, tuple[bytes, int]] = {}   # user -> (data key id, version) applied here
        self.quarantined: dict[str, str] = {}

    # --- reading records ------------------------------------------------------------------
    def decode(self, user_id: str, blob, wraps, version) -> UserRecord:
        try:
            dk = unwrap(wraps or b"", self.cipher, user_id)
        except StoreConfigError as exc:   # a key this replica does not hold: this record only
            raise CorruptData(str(exc)) from None
        return UserRecord.unseal(blob, user_id, int(version or 0), dk)

    async def fetch(self, user_ids: list[str], strict: bool) -> list[tuple[UserRecord | None, int]]:
        """(record or None, version) per user; None: absent, or (not strict) quarantined."""
        rows = await self.source.rows(user_ids)
        out, bad = await asyncio.to_thread(self._decode_rows, user_ids, rows, strict)
        for uid, why in bad:
            self.quarantine(uid, why)
        return out

    def _decode_rows(self, user_ids, rows, strict):
        out, bad = [], []
        for uid, (blob, wraps, version) in zip(user_ids, rows):
            if blob is None:
                out.append((None, 0))
                continue
            try:
                out.append((self.decode(uid, blob, wraps, version), int(version)))
            except CorruptData as exc:
                if strict:
                    raise
                bad.append((uid, str(exc)))
                out.append((None, 0))
        return out, bad

    async def data_keys(self, user_ids: list[str]) -> dict[str, DataKey]:
        """Live data keys (restore's erasure check); one this replica cannot unwrap is quarantined."""
        out = {}
        for i in range(0, len(user_ids), _CHUNK):
            chunk = user_ids[i:i + _CHUNK]
            for uid, w in zip(chunk, await self.source.wraps(chunk)):
                if w is not None:
                    try:
                        out[uid] = unwrap(w, self.cipher, uid)
                    except (CorruptData, StoreConfigError) as exc:
                        self.quarantine(uid, str(exc))
        return out

    def quarantine(self, user_id: str, why: str) -> None:
        if user_id not in self.quarantined:
            log.error("quarantined record %s: %s", user_id, why, extra={"user_id": user_id})
        self.quarantined[user_id] = why
        self.metrics.quarantined.inc()

    async def load_all(self) -> list[tuple[UserRecord, int]]:
        ids = await self.source.all_ids()
        rows = []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            rows += [(r, v) for r, v in await self.fetch(chunk, strict=False) if r is not None]
        return rows

    # --- keeping the view in step ---------------------------------------------------------
    async def reload(self) -> str:
        """Snapshot + tail: note the stream position first, then read every record into a new view."""
        start = await self.source.position()
        rows = await self.load_all()
        mirror = LocalView(self.config, keep_records=False)
        if self.mirror.dim is not None:
            mirror.fix_dim(self.mirror.dim)
        await mirror.load([r for r, _ in rows])
        self.mirror = mirror  # swap whole: searches never see a half-built view
        self.versions = {r.user_id: (r.data_key.key_id, v) for r, v in rows}
        self.quarantined = {u: why for u, why in self.quarantined.items() if u not in self.versions}
        return start

    async def apply_events(self, events: list[tuple[str, str, int]]) -> None:
        """Stream events name users that changed; fetch their current state (absent = deleted)."""
        ids = list(dict.fromkeys(uid for op, uid, _ in events if op in ("put", "del")))
        if not ids:
            return
        mirror = self.mirror
        for uid, (record, version) in zip(ids, await self.fetch(ids, strict=False)):
            known = self.versions.get(uid)
            if record is not None and known and known[0] == record.data_key.key_id and version < known[1]:
                self.quarantine(uid, f"version {version} is older than version {known[1]} applied here (replayed)")
                record = None
            if record is None:
                await mirror.delete(uid)
                self.versions.pop(uid, None)
            else:
                await mirror.put(record)
                self.versions[uid] = (record.data_key.key_id, version)
                self.quarantined.pop(uid, None)


async def match_record(get, mirror: LocalView, config: StorageConfig, user_id: str, embedding,
                       touch) -> Match:
    """1:1 against the durable record (`get`), or against the local index while the durable copy is out of reach.

    `touch(user_id)` records the use for retention (skipped on the local fallback: it needs the durable copy).
    """
    query = as_embedding(embedding, mirror.dim)
    try:
        record = await get(user_id)
    except StorageUnavailable:
        local, name = await mirror.score(user_id, query), mirror.names.get(user_id)
        if local is None or name is None:
            raise
        return Match(user_id, name, local, mirror.models.get(user_id))
    if record.dim != query.shape[0]:
        raise InvalidEmbedding(f"embedding has {query.shape[0]} dims, the store holds {record.dim}")
    score = float(np.max(index_rows(record.embeddings, config.score_policy) @ normalise(query)[0]))
    await touch(user_id)
    return Match(record.user_id, record.name, score, record.model_id)
