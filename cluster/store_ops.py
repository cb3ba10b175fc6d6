"""Backup and restore of the local cluster's store, through the store's own backup format (store/backup.py).

The store settings are the routers' (the rendered config/production.yaml, so the same Redis, prefix and
encryption key); the file is encrypted with the store's key, as `python -m store backup` writes it in compose.
Each backup gets a key escrow beside it (`<file>.keys`, store/escrow.py): restoring after every Redis node lost
its data takes the users' data keys from there; otherwise the live store's keys decide, so erased users stay
erased.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from cluster import secrets
from router.config import load_config
from store.backup import backup as write_backup
from store.backup import restore as load_backup
from store.backup import read_backup
from store.crypto import load_cipher
from store.escrow import KeyEscrow, write_escrow
from store.factory import create_store


def escrow_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".keys")


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
        cipher = load_cipher(config)
        async with create_store(config) as store:
            count = await write_backup(store, path, cipher)
            ids = [uid for uid, _ in read_backup(path, cipher).entries]
            await write_escrow(store, ids, escrow_path(path), cipher)
            return count
    return asyncio.run(run())


def restore(cluster, path: Path, merge: bool = False, escrow: Path | None = None) -> int:
    """Loads a backup; `escrow`: the data keys come from that key escrow (every live copy of the store is lost)."""
    config = storage_config(cluster)

    async def run() -> int:
        cipher = load_cipher(config)
        keys = None if escrow is None else KeyEscrow(escrow, cipher)
        async with create_store(config) as store:
            return (await load_backup(store, path, cipher, merge=merge, key_source=keys)).restored
    return asyncio.run(run())
