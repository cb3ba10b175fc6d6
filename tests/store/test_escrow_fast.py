"""Fast unit tests of store.escrow (memory stores, milliseconds): the entry format, exactly the live keys escrowed
and answered, the file's mode and atomic write, and escrow files without a true end marker refused. Part of the
mutation check (scripts/mutation.sh); test_escrow.py restores a lost file store from backup + escrow."""
from __future__ import annotations

import stat
import struct

import numpy as np
import pytest

from store.config import StorageConfig
from store.container import new_header, position_aad
from store.crypto import Cipher
from store.datakeys import DataKey
from store.errors import CorruptData
from store.escrow import KeyEscrow, _entry, _parse, write_escrow
from store.factory import create_store
from store.framing import encode_frame, encode_header, scan
from store.records import encode_end

pytestmark = pytest.mark.asyncio(loop_scope="session")
CIPHER = Cipher(bytes(range(32)))
KEY = DataKey(bytes(range(16)), bytes(range(50, 82)))


@pytest.fixture
async def store():
    s = create_store(StorageConfig.from_dict({"type": "memory"}))
    await s.open()
    for i in range(3):
        await s.create_user(f"n{i}", [np.full(4, i + 1, np.float32)], user_id=f"u{i}")
    yield s
    await s.close()


async def test_entry_format_is_pinned_and_round_trips():
    data = _entry("ü-1", KEY)
    assert data == b"k" + struct.pack("<H", 4) + "ü-1".encode() + KEY.to_bytes()
    assert _parse(data) == ("ü-1", KEY)
    for bad in (b"K" + data[1:], b"k\x00", b"", b"x"):
        with pytest.raises(CorruptData) as err:
            _parse(bad)
        assert str(err.value) == "not a key escrow entry"
    assert _parse(b"k\x00\x00" + KEY.to_bytes()) == ("", KEY)   # three bytes are enough for an (empty) id
    with pytest.raises(CorruptData, match="data key has the wrong length"):
        _parse(b"k\x00\x00")


async def test_escrow_holds_exactly_the_live_keys(store, tmp_path):
    path = tmp_path / "b.keys"
    assert await write_escrow(store, ["u2", "gone", "u0", "u1"], path, CIPHER) == 3
    live = await store.data_keys(["u0", "u1", "u2"])
    escrow = KeyEscrow(path, CIPHER)
    assert len(escrow) == 3
    assert await escrow.data_keys(["u0", "u1", "u2", "gone"]) == live
    assert await escrow.data_keys(["u1"]) == {"u1": live["u1"]} and await escrow.data_keys([]) == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not (tmp_path / "b.keys.tmp").exists()
    sc = scan(path)
    assert (sc.header["kind"], sc.header["source"]) == ("keys", "memory") and len(sc.frames) == 4


async def test_an_empty_escrow(store, tmp_path):
    path = tmp_path / "none.keys"
    assert await write_escrow(store, [], path, CIPHER) == 0
    assert len(KeyEscrow(path, CIPHER)) == 0


def write_keys(path, plaintexts: list[bytes]) -> None:
    header = new_header("keys", 0, CIPHER, source="test")
    with open(path, "wb") as f:
        f.write(encode_header(header))
        for n, p in enumerate(plaintexts):
            f.write(encode_frame(n, CIPHER.encrypt(p, position_aad(header, n))))


@pytest.mark.parametrize("ops", [[], [_entry("u0", KEY), encode_end(2)], [_entry("u0", KEY), encode_end(0)]])
async def test_escrows_without_a_true_end_marker_are_refused(tmp_path, ops):
    path = tmp_path / "cut.keys"
    write_keys(path, ops)
    with pytest.raises(CorruptData) as err:
        KeyEscrow(path, CIPHER)
    assert str(err.value) == f"{path}: key escrow is incomplete (its end marker is missing or wrong)"


@pytest.mark.parametrize("ops", [[_entry("u0", KEY)], [encode_end(0), _entry("u0", KEY)]])
async def test_an_escrow_cut_before_its_end_marker_is_refused(tmp_path, ops):
    # The last frame is an entry, which is no operation of the log format: refused, but as an unknown operation.
    path = tmp_path / "cut.keys"
    write_keys(path, ops)
    with pytest.raises(CorruptData, match="unknown operation in log"):
        KeyEscrow(path, CIPHER)


async def test_an_end_marker_among_the_entries_is_refused(tmp_path):
    path = tmp_path / "twice.keys"
    write_keys(path, [encode_end(1), encode_end(1)])
    with pytest.raises(CorruptData, match="not a key escrow entry"):
        KeyEscrow(path, CIPHER)


async def test_a_backup_is_no_escrow(store, tmp_path):
    from store.backup import backup
    path = tmp_path / "b.backup"
    await backup(store, path, CIPHER)
    with pytest.raises(CorruptData, match="header says kind 'backup', expected 'keys'"):
        KeyEscrow(path, CIPHER)


async def test_a_hand_written_escrow_reads_back(tmp_path):
    path = tmp_path / "ok.keys"
    write_keys(path, [_entry("u0", KEY), encode_end(1)])
    assert await KeyEscrow(path, CIPHER).data_keys(["u0"]) == {"u0": KEY}
