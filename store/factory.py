"""Builds the configured backend. Adding a backend = one module + one line in BACKENDS."""
from __future__ import annotations

from .base import VoiceprintStore
from .backends.file import FileStore
from .backends.memory import MemoryStore
from .backends.postgres import PostgresStore
from .backends.redis import RedisStore
from .config import StorageConfig
from .errors import StoreConfigError

BACKENDS: dict[str, type[VoiceprintStore]] = {
    "memory": MemoryStore,
    "file": FileStore,
    "redis": RedisStore,
    "postgres": PostgresStore,
}


def create_store(config: StorageConfig, registry=None) -> VoiceprintStore:
    """Construct (not yet open) the store; a missing/unparseable key fails here, a wrong one at open().

    registry: a prometheus CollectorRegistry for the store's metrics (default: a private one).
    """
    try:
        cls = BACKENDS[config.type]
    except KeyError:
        raise StoreConfigError(f"storage.type: unknown backend {config.type!r}") from None
    store = cls(config)
    if registry is not None:
        store.use_registry(registry)
    return store
