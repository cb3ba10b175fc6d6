"""Key escrow: after every live copy of the store is lost, a backup plus its escrow restores every user exactly
(vectors equal to the ones the test kept); without the escrow nobody comes back; damage is refused."""
import numpy as np
import pytest

from store.backup import backup, read_backup, restore
from store.config import StorageConfig
from store.crypto import Cipher, generate_key, parse_key
from store.errors import CorruptData, StoreError
from store.escrow import KeyEscrow, write_escrow
from store.factory import create_store

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 16


async def opened(kind: str, path, key: str) -> object:
    store = create_store(StorageConfig.from_dict({"type": kind, "path": str(path), "encryption_key": key}))
    await store.open()
    return store


async def test_disaster_recovery_from_backup_and_escrow(tmp_path, key, rng):
    cipher = Cipher(parse_key(key, "k"))
    source = await opened("file", tmp_path / "lost", key)
    kept = {f"u{i}": np.stack([unit(rng, DIM), unit(rng, DIM)]) for i in range(4)}
    for user_id, vectors in kept.items():
        await source.create_user(f"name-{user_id}", list(vectors), {"i": user_id}, user_id=user_id)
    path = tmp_path / "b.vmb"
    assert await backup(source, path, cipher) == 4
    ids = [uid for uid, _ in read_backup(path, cipher).entries]
    assert await write_escrow(source, ids, tmp_path / "b.keys", cipher) == 4
    await source.close()  # the disaster: the store and its keys are gone

    fresh = await opened("memory", tmp_path / "new", key)
    assert (await restore(fresh, path, cipher)).restored == 0  # no live keys: a backup alone restores nobody
    result = await restore(fresh, path, cipher, key_source=KeyEscrow(tmp_path / "b.keys", cipher))
    assert (result.restored, result.skipped_erased) == (4, 0)
    restored = {r.user_id: r async for r in fresh.export_records()}
    for user_id, vectors in kept.items():
        np.testing.assert_array_equal(restored[user_id].embeddings, vectors.astype(np.float32))
        assert restored[user_id].name == f"name-{user_id}"


async def test_escrow_damage_and_a_wrong_key_are_refused(tmp_path, key, rng):
    cipher = Cipher(parse_key(key, "k"))
    store = await opened("memory", tmp_path, key)
    for i in range(3):
        await store.create_user(f"n{i}", [unit(rng, DIM)], user_id=f"u{i}")
    escrow = tmp_path / "k.keys"
    await write_escrow(store, ["u0", "u1", "u2", "never-enrolled"], escrow, cipher)
    assert len(KeyEscrow(escrow, cipher)) == 3  # only users with a live key are escrowed
    with pytest.raises(StoreError):
        KeyEscrow(escrow, Cipher(parse_key(generate_key(), "other")))
    data = escrow.read_bytes()
    escrow.write_bytes(data[:-40])  # cut inside the end marker
    with pytest.raises(CorruptData):
        KeyEscrow(escrow, cipher)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    escrow.write_bytes(bytes(flipped))
    with pytest.raises(CorruptData):
        KeyEscrow(escrow, cipher)
