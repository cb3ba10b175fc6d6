"""Builds the configured backend. Adding a backend = one module + one line in BACKENDS."""
from __future__ import annotations

from .base import VoiceprintStore
from .backends.file import FileStore
from .backends.memory import MemoryStore
from .backends.redis import RedisStore
from .config import StorageConfig
from .errors import StoreConfigError

BACKENDS: dict[str, type[VoiceprintStore]] = {
    "memory": MemoryStore,
    "file": FileStore,
    "redis": RedisStore,
}


def create_store(config: StorageConfig) -> VoiceprintStore:
    """Construct (not yet open) the store; a missing/unparseable key fails here, a wrong one at open()."""
    try:
        cls = BACKENDS[config.type]
    except KeyError:
        raise StoreConfigError(f"storage.type: unknown backend {config.type!r}") from None
    return cls(config)
