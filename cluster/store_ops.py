"""Backup and restore of the local cluster's store, through the store's own backup format (store/backup.py).

The store settings are the routers' (the rendered config/production.yaml, so the same Redis, prefix and
encryption key); the file is encrypted with the store's key, as `python -m store backup` writes it in compose.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from cluster import secrets
from router.config import load_config
from store.backup import backup as write_backup
from store.backup import restore as load_backup
from store.crypto import load_cipher
from store.factory import create_store


def storage_config(cluster):
    """The routers' storage settings (Sentinel-aware: the backup follows the current master)."""
    router = cluster.state.names("router")[0]
    password = secrets.redis_password(cluster.secrets_dir)
    config = load_config(cluster.directory / "config" / f"{router}.yaml",
                         env={"VOIMID_REDIS_PASSWORD": password, "VOIMID_REDIS_SENTINEL_PASSWORD": password})
    return config.storage


def backup(cluster, path: Path) -> int:
    config = storage_config(cluster)
    path.parent.mkdir(parents=True, exist_ok=True)

    async def run() -> int:
        async with create_store(config) as store:
            return await write_backup(store, path, load_cipher(config))
    return asyncio.run(run())


def restore(cluster, path: Path, merge: bool = False) -> int:
    config = storage_config(cluster)

    async def run() -> int:
        async with create_store(config) as store:
            return await load_backup(store, path, load_cipher(config), merge=merge)
    return asyncio.run(run())
