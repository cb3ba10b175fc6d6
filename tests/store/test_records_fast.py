"""Fast unit tests of store.records: the record's byte format (pinned: files written by earlier releases must
still read), exact round trips of every operation, sealing bound to user and version, and corruption detected
and named. Part of the mutation check (scripts/mutation.sh)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from store.datakeys import DataKey
from store.errors import CorruptData
from store.models import User
from store.records import (UserRecord, decode_op, encode_backup_entry, encode_close, encode_delete, encode_end,
                           encode_put, encode_touch, record_aad)

EMB = np.array([[0.5, -1.25, 3.0], [1e-3, 2.0, -0.0625]], dtype=np.float32)
KEY = DataKey(bytes(range(16)), bytes(range(100, 132)))


def record(**changes) -> UserRecord:
    fields = dict(user_id="u-1", name="Ada", metadata={"team": "blue", "n": [1, 2]}, created_at=1.5,
                  updated_at=2.25, embeddings=EMB, data_key=KEY, last_used=3.125)
    fields.update(changes)
    return UserRecord(**fields)


def assert_same(got: UserRecord, want: UserRecord) -> None:
    assert (got.user_id, got.name, got.metadata, got.created_at, got.updated_at, got.last_used) == \
        (want.user_id, want.name, want.metadata, want.created_at, want.updated_at, want.last_used)
    assert got.embeddings.dtype == np.float32 and got.embeddings.shape == want.embeddings.shape
    np.testing.assert_array_equal(got.embeddings, want.embeddings)


def pinned_blob(**extra) -> bytes:
    fields = {"id": "u-1", "name": "Ada", "meta": {"team": "blue", "n": [1, 2]}, "c": 1.5, "u": 2.25, "lu": 3.125,
              **extra, "n": 2, "d": 3}
    head = json.dumps(fields).encode()
    return struct.pack("<I", len(head)) + head + EMB.astype("<f4").tobytes()


def test_the_record_format_is_pinned():
    blob = pinned_blob(mid=None)
    assert record().to_bytes() == blob
    assert_same(UserRecord.from_bytes(blob), record())
    tagged = record(model_id="ge2e:abc")
    assert tagged.to_bytes() == pinned_blob(mid="ge2e:abc")
    assert UserRecord.from_bytes(tagged.to_bytes()).model_id == "ge2e:abc"


def test_records_written_before_model_tags_still_read():
    old = UserRecord.from_bytes(pinned_blob())   # no "mid": every record stored before voiceprints were tagged
    assert_same(old, record())
    assert old.model_id is None


def test_round_trips_keep_every_field():
    for r in (record(), record(last_used=None, metadata={}, name="名前 with | and \"quotes\""),
              record(embeddings=np.ones((1, 512), dtype=np.float32) / 3)):
        back = UserRecord.from_bytes(r.to_bytes())
        assert_same(back, r)
        assert back.data_key is None   # key material is never part of the record bytes


def test_big_endian_or_float64_input_is_stored_as_little_endian_float32():
    r = record(embeddings=EMB.astype(">f8"))
    assert r.to_bytes().endswith(EMB.astype("<f4").tobytes())


@pytest.mark.parametrize("blob", [
    b"", b"\x05\x00",                                                         # no length
    struct.pack("<I", 5) + b"{bad}",                                          # not JSON
    struct.pack("<I", 2) + b"[]",                                             # not an object
    struct.pack("<I", 13) + b'{"id": "u-1"}',                                 # fields missing
    record().to_bytes()[:-1],                                                 # body cut short
    struct.pack("<I", 200) + record().to_bytes()[4:],                         # length past the head
])
def test_undecodable_records_are_corrupt_data(blob):
    with pytest.raises(CorruptData) as err:
        UserRecord.from_bytes(blob)
    assert str(err.value).startswith("undecodable user record: ")


def test_to_user_and_with_enrollment():
    r = record()
    user = r.to_user()
    assert user == User("u-1", "Ada", {"team": "blue", "n": [1, 2]}, 1.5, 2.25, 2)
    user.metadata["team"] = "red"
    assert r.metadata["team"] == "blue"   # the user view holds a copy
    grown = r.with_enrollment(np.array([9.0, 8.0, 7.0], dtype=np.float32), now=10.0)
    np.testing.assert_array_equal(grown.embeddings, np.vstack([EMB, [[9, 8, 7]]]))
    assert (grown.updated_at, grown.last_used, grown.created_at, grown.data_key) == (10.0, 10.0, 1.5, KEY)
    assert r.embeddings.shape == (2, 3) and (r.updated_at, r.last_used) == (2.25, 3.125)   # unchanged
    assert (r.dim, r.last_use, record(last_used=None).last_use) == (3, 3.125, 2.25)


def test_with_key():
    bare = record(data_key=None)
    fresh, again = bare.with_key(), bare.with_key()
    assert isinstance(fresh.data_key, DataKey) and fresh.data_key != again.data_key and bare.data_key is None
    assert bare.with_key(KEY).data_key == KEY


def test_record_aad_is_pinned():
    assert record_aad("u-1", 7) == b"vomid-record-v2|u-1|7"


def test_seal_binds_the_record_to_user_and_version():
    sealed = record().seal(3)
    assert sealed[:16] == KEY.key_id and b"Ada" not in sealed
    back = UserRecord.unseal(sealed, "u-1", 3, KEY)
    assert_same(back, record())
    assert back.data_key == KEY
    for uid, version, key in (("u-2", 3, KEY), ("u-1", 2, KEY), ("u-1", 4, KEY),
                              ("u-1", 3, DataKey(KEY.key_id, bytes(32)))):
        with pytest.raises(CorruptData):
            UserRecord.unseal(sealed, uid, version, key)


def test_a_record_sealed_for_one_user_holding_another_users_data_is_refused():
    foreign = KEY.seal(record(user_id="u-2").to_bytes(), record_aad("u-1", 0))
    with pytest.raises(CorruptData) as err:
        UserRecord.unseal(foreign, "u-1", 0, KEY)
    assert str(err.value) == "record of user u-1 holds another user's data"


def test_put_round_trip_carries_the_data_key():
    data = encode_put(record())
    assert data[:1] == b"K" and data[1:49] == KEY.to_bytes()
    op, back = decode_op(data)
    assert op == "put" and back.data_key == KEY
    assert_same(back, record())


def test_version_1_put_has_no_data_key():
    op, back = decode_op(b"P" + record().to_bytes())
    assert op == "put" and back.data_key is None
    assert_same(back, record())


def test_backup_entry_round_trip():
    data = encode_backup_entry(record(user_id="ü|ser"))
    assert data[:3] == b"B" + struct.pack("<H", len("ü|ser".encode()))
    op, (uid, sealed) = decode_op(data)
    assert (op, uid) == ("entry", "ü|ser")
    assert_same(UserRecord.unseal(sealed, "ü|ser", 0, KEY), record(user_id="ü|ser"))


def test_small_operations_round_trip_and_are_pinned():
    assert encode_delete("u-1") == b"Du-1" and decode_op(b"Du-1") == ("delete", "u-1")
    assert encode_end(12) == b"E12" and decode_op(b"E12") == ("end", 12)
    assert encode_close(4) == b"C4" and decode_op(b"C4") == ("close", 4)
    when = 1712345678.1234567
    assert encode_touch("a|b", when) == f"T{when!r}|a|b".encode()
    assert decode_op(encode_touch("a|b", when)) == ("touch", ("a|b", when))


@pytest.mark.parametrize("data, message", [
    (b"", "unknown operation in log"),
    (b"X123", "unknown operation in log"),
    (b"Eten", "undecodable operation: "),
    (b"C", "undecodable operation: "),
    (b"B\x01", "undecodable operation: "),
    (b"Tnow|u", "undecodable operation: "),
    (b"D\xff", "undecodable operation: "),
    (b"K" + bytes(10), "undecodable user record: "),
    (b"P" + b"\x01", "undecodable user record: "),
])
def test_undecodable_operations_are_corrupt_data(data, message):
    with pytest.raises(CorruptData) as err:
        decode_op(data)
    assert str(err.value).startswith(message)
