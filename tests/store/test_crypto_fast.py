"""Fast unit tests of store.crypto (milliseconds, no server): key ids, key parsing, rotation, and the errors that
name what is wrong. Part of the mutation check (scripts/mutation.sh, tests/README.md)."""
import base64

import pytest

from store.config import StorageConfig
from store.crypto import KEY_ENV, Cipher, generate_key, key_id, load_cipher, parse_key
from store.errors import CorruptData, StoreConfigError

KEY_A, KEY_B, KEY_C = bytes(range(32)), bytes(32), bytes(range(1, 33))


def test_key_ids_are_pinned():
    """Key ids are stored in every file header and blob: a change would make existing data look foreign."""
    assert key_id(KEY_A).hex() == "c897793b45c54117"
    assert key_id(KEY_B).hex() == "3101dad73dfb569d"
    assert Cipher(KEY_A).key_id == "c897793b45c54117"


def test_generated_keys_are_fresh_256_bit_keys():
    a, b = generate_key(), generate_key()
    assert len(base64.b64decode(a)) == 32 and a != b
    assert parse_key(a, "k") == base64.b64decode(a)


@pytest.mark.parametrize("text", [KEY_A.hex(), KEY_A.hex().upper(), base64.b64encode(KEY_A).decode(),
                                  base64.b64encode(KEY_A).decode().rstrip("="),
                                  base64.urlsafe_b64encode(KEY_A).decode().rstrip("="),
                                  f"  {KEY_A.hex()}\n"])
def test_parse_key_accepts_hex_and_base64(text):
    assert parse_key(text, "k") == KEY_A


@pytest.mark.parametrize("text", ["", "zz" * 32, KEY_A.hex()[:-2], base64.b64encode(bytes(31)).decode(),
                                  base64.b64encode(bytes(33)).decode(), "not a key at all!"])
def test_parse_key_refuses_other_lengths_naming_the_setting(text):
    with pytest.raises(StoreConfigError) as err:
        parse_key(text, "some.setting")
    assert str(err.value) == "some.setting: not a 256-bit key (expected 32 bytes as base64 or 64 hex chars)"


def test_cipher_knows_its_keys_and_rotation_keeps_reading():
    old, new = Cipher(KEY_A), Cipher(KEY_B, [KEY_A])
    assert new.key_id == key_id(KEY_B).hex() and set(new.key_ids) == {key_id(KEY_A).hex(), key_id(KEY_B).hex()}
    assert new.knows(key_id(KEY_A).hex()) and new.knows(key_id(KEY_B).hex())
    assert not new.knows(key_id(KEY_C).hex()) and not old.knows(key_id(KEY_B).hex())
    blob = old.encrypt(b"old data", b"aad")
    assert new.decrypt(blob, b"aad") == b"old data"
    fresh = new.encrypt(b"new data")
    assert fresh[:8] == key_id(KEY_B) and len(fresh) == 8 + 12 + len(b"new data") + 16
    with pytest.raises(StoreConfigError):
        old.decrypt(fresh)


def test_with_primary_writes_with_the_new_key_and_reads_both():
    old, new = Cipher(KEY_A), Cipher(KEY_B)
    old_blob = old.encrypt(b"x")
    merged = old.with_primary(new)
    assert merged.key_id == new.key_id and merged.knows(old.key_id) and merged.knows(new.key_id)
    assert merged.encrypt(b"y")[:8] == key_id(KEY_B)
    assert merged.decrypt(old_blob) == b"x" and new.decrypt(merged.encrypt(b"y")) == b"y"
    assert not new.knows(old.key_id)  # merging did not change the cipher it was given


def test_nonces_are_fresh():
    c = Cipher(KEY_A)
    a, b = c.encrypt(b"same"), c.encrypt(b"same")
    assert a[8:20] != b[8:20] and a != b


def test_wrong_key_error_names_both_key_ids():
    blob = Cipher(KEY_A).encrypt(b"x")
    with pytest.raises(StoreConfigError) as err:
        Cipher(KEY_B).decrypt(blob)
    assert str(err.value) == (f"storage.encryption_key: data was sealed with key id {key_id(KEY_A).hex()}, "
                              f"configured key id is {key_id(KEY_B).hex()} (wrong key?)")


@pytest.mark.parametrize("damage", ["flip_body", "flip_nonce", "wrong_aad", "truncate"])
def test_tampered_blob_is_corrupt_data(damage):
    c = Cipher(KEY_A)
    blob = bytearray(c.encrypt(b"payload", b"one"))
    aad = b"one"
    if damage == "flip_body":
        blob[-1] ^= 1
    elif damage == "flip_nonce":
        blob[8] ^= 1
    elif damage == "wrong_aad":
        aad = b"two"
    else:
        del blob[-1]
    with pytest.raises(CorruptData) as err:
        c.decrypt(bytes(blob), aad)
    assert str(err.value) == "encrypted blob failed authentication (tampered or misplaced)"


def test_check_key_id_at_start_up():
    c = Cipher(KEY_B, [KEY_A])
    c.check_key_id(key_id(KEY_A).hex(), "the snapshot")
    c.check_key_id(key_id(KEY_B).hex(), "the snapshot")
    with pytest.raises(StoreConfigError) as err:
        c.check_key_id(key_id(KEY_C).hex(), "the snapshot")
    assert str(err.value) == (f"storage.encryption_key: the snapshot was encrypted with key id "
                              f"{key_id(KEY_C).hex()}, but the configured key has id {key_id(KEY_B).hex()}: "
                              "wrong key")


def test_load_cipher_errors_name_their_source(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    bad = tmp_path / "bad"
    bad.write_text("short")
    for config, setting in ((StorageConfig(encryption_key="short"), "storage.encryption_key"),
                            (StorageConfig(encryption_key_file=str(bad)), "storage.encryption_key_file"),
                            (StorageConfig(encryption_key=KEY_A.hex(), encryption_old_keys=["short"]),
                             "storage.encryption_old_keys")):
        with pytest.raises(StoreConfigError) as err:
            load_cipher(config)
        assert str(err.value).startswith(setting + ": not a 256-bit key")
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(StoreConfigError) as err:
        load_cipher(StorageConfig())
    assert str(err.value).startswith(f"{KEY_ENV}: not a 256-bit key")


def test_load_cipher_missing_key_explains_how_to_make_one(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(StoreConfigError) as err:
        load_cipher(StorageConfig(type="redis"))
    assert str(err.value) == (
        "storage.encryption_key: the redis backend encrypts at rest and needs a key: set storage.encryption_key, "
        f"storage.encryption_key_file or ${KEY_ENV} (make one with `python -m store gen-key`)")


def test_load_cipher_precedence_and_old_keys(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY_C.hex())
    f = tmp_path / "key"
    f.write_text(base64.b64encode(KEY_B).decode() + "\n")
    assert load_cipher(StorageConfig(encryption_key=KEY_A.hex(), encryption_key_file=str(f))).key_id == \
        key_id(KEY_A).hex()
    assert load_cipher(StorageConfig(encryption_key_file=str(f))).key_id == key_id(KEY_B).hex()
    assert load_cipher(StorageConfig()).key_id == key_id(KEY_C).hex()
    rotated = load_cipher(StorageConfig(encryption_key=KEY_A.hex(), encryption_old_keys=[KEY_B.hex(),
                                                                                          KEY_C.hex()]))
    assert rotated.key_id == key_id(KEY_A).hex()
    assert sorted(rotated.key_ids) == sorted(key_id(k).hex() for k in (KEY_A, KEY_B, KEY_C))
    assert rotated.decrypt(Cipher(KEY_C).encrypt(b"older")) == b"older"


def test_load_cipher_unreadable_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    missing = tmp_path / "missing"
    with pytest.raises(StoreConfigError) as err:
        load_cipher(StorageConfig(encryption_key_file=str(missing)))
    assert str(err.value) == f"storage.encryption_key_file: cannot read {missing}: No such file or directory"
