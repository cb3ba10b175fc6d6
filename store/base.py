"""The one interface every storage backend implements (async: the router runs on aiohttp)."""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import numpy as np

from . import clock
from .crypto import Cipher
from .datakeys import DataKey
from .errors import StoreConfigError, UserNotFound
from .metrics import StoreMetrics
from .models import Match, Page, User
from .records import UserRecord
from .retention import Retention, audit_expiry

log = logging.getLogger(__name__)


class VoiceprintStore(ABC):
    """Users and their enrollment embeddings, with 1:1 scoring and 1:N search.

    Scores are cosine similarities in [-1, 1]; how several enrollments combine is the
    configured score policy (centroid of normalised enrollments, or max over them).
    """

    backend: str = "?"
    _metrics: StoreMetrics | None = None

    @property
    def metrics(self) -> StoreMetrics:
        if self._metrics is None:
            self._metrics = StoreMetrics()
        return self._metrics

    def use_registry(self, registry) -> None:
        """Count into this prometheus CollectorRegistry (call before open())."""
        self._metrics = StoreMetrics(registry)

    @abstractmethod
    async def open(self) -> None:
        """Connect / recover and build the index. Raises StoreConfigError on a wrong key."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create_user(self, name: str, embeddings: list[np.ndarray], metadata: dict | None = None,
                          user_id: str | None = None, model_id: str | None = None) -> User: ...

    @abstractmethod
    async def add_enrollment(self, user_id: str, embedding: np.ndarray, model_id: str | None = None) -> User:
        """Adds one embedding; `model_id` (the model that made it) must match the user's (ModelMismatch)."""

    @abstractmethod
    async def get_user(self, user_id: str) -> User: ...

    @abstractmethod
    async def list_users(self, offset: int = 0, limit: int = 50) -> Page:
        """Users in creation order."""

    @abstractmethod
    async def delete_user(self, user_id: str) -> None:
        """Erase the user everywhere (records, index, log/snapshots after compaction)."""

    @abstractmethod
    async def count(self) -> int: ...

    @abstractmethod
    async def score(self, user_id: str, embedding: np.ndarray) -> float: ...

    async def match(self, user_id: str, embedding: np.ndarray) -> Match:
        """1:1 for a decision: the user's name and score. Backends whose durable copy is remote answer from their
        local index while it is unreachable (a Redis failover must not fail verification)."""
        user = await self.get_user(user_id)
        return Match(user.user_id, user.name, await self.score(user_id, embedding), user.model_id)

    @abstractmethod
    async def search(self, embedding: np.ndarray, k: int = 5) -> list[Match]: ...

    @abstractmethod
    async def health(self) -> dict: ...

    # --- backup / restore / key rotation ---------------------------------------------------
    @abstractmethod
    def export_records(self) -> AsyncIterator[UserRecord]:
        """Every user as of one point in time (a consistent snapshot)."""

    @abstractmethod
    async def import_records(self, records: list[UserRecord]) -> None:
        """Write records as they are (ids, timestamps and data keys kept; a record without a data key gets
        a new one), replacing users with the same id."""

    @abstractmethod
    async def data_keys(self, user_ids: list[str]) -> dict[str, DataKey]:
        """The live data key of each of these users; a user absent from the answer is erased (or unknown)."""

    # --- retention ------------------------------------------------------------------------
    @abstractmethod
    async def last_uses(self) -> dict[str, float]:
        """When each user was last enrolled or verified (coarse: see store.retention)."""

    async def expire_unused(self, now: float | None = None) -> list[str]:
        """Erase users unused for longer than storage.retention_days, like DELETE; returns their ids."""
        retention = Retention(self._config)
        now = clock.now() if now is None else now
        if not retention.enabled:
            return []
        erased = []
        for user_id, last_use in (await self.last_uses()).items():
            if not retention.expired(last_use, now):
                continue
            try:
                await self.delete_user(user_id)
            except UserNotFound:
                continue   # deleted meanwhile
            audit_expiry(user_id, last_use)
            self.metrics.expired.inc()
            erased.append(user_id)
        if erased:
            log.info("retention erased %d users unused for more than %s days", len(erased),
                     self._config.retention_days)
        return erased

    async def rotate_key(self, new_cipher: Cipher) -> int:
        """Re-encrypt everything at rest with a new key; returns the number of users rewritten."""
        raise StoreConfigError(f"storage.type: the {self.backend} backend keeps nothing at rest to re-key")

    async def __aenter__(self) -> "VoiceprintStore":
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
