"""AES-GCM wrapper and key loading: wrong or missing keys are clear errors, never garbage."""
import base64

import pytest

from store.config import StorageConfig
from store.crypto import KEY_ENV, Cipher, generate_key, load_cipher, parse_key
from store.errors import CorruptData, StoreConfigError


def test_round_trip_and_key_id():
    c = Cipher(parse_key(generate_key(), "k"))
    blob = c.encrypt(b"secret", b"aad")
    assert b"secret" not in blob and c.decrypt(blob, b"aad") == b"secret"
    assert blob[:8].hex() == c.key_id


def test_wrong_key_names_the_setting():
    a, b = Cipher(parse_key(generate_key(), "k")), Cipher(parse_key(generate_key(), "k"))
    with pytest.raises(StoreConfigError, match="encryption_key"):
        b.decrypt(a.encrypt(b"x"))


def test_tampering_and_wrong_aad_detected():
    c = Cipher(parse_key(generate_key(), "k"))
    blob = bytearray(c.encrypt(b"payload", b"one"))
    with pytest.raises(CorruptData):
        c.decrypt(bytes(blob), b"two")
    blob[-1] ^= 1
    with pytest.raises(CorruptData):
        c.decrypt(bytes(blob), b"one")


def test_old_keys_still_decrypt():
    old, new = parse_key(generate_key(), "k"), parse_key(generate_key(), "k")
    blob = Cipher(old).encrypt(b"x")
    rotated = Cipher(new, [old])
    assert rotated.decrypt(blob) == b"x" and rotated.encrypt(b"y")[:8].hex() == rotated.key_id


def test_parse_key_formats():
    raw = bytes(range(32))
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex()):
        assert parse_key(text, "k") == raw
    with pytest.raises(StoreConfigError, match="storage.encryption_key"):
        parse_key("too-short", "storage.encryption_key")


def test_load_cipher_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(StoreConfigError, match="gen-key"):
        load_cipher(StorageConfig(type="file"))
    assert load_cipher(StorageConfig(type="memory"), required=False) is None
    key = generate_key()
    f = tmp_path / "k"
    f.write_text(key + "\n")
    from_file = load_cipher(StorageConfig(encryption_key_file=str(f)))
    assert from_file.key_id == load_cipher(StorageConfig(encryption_key=key)).key_id
    monkeypatch.setenv(KEY_ENV, key)
    assert load_cipher(StorageConfig()).key_id == from_file.key_id
    with pytest.raises(StoreConfigError, match="encryption_key_file"):
        load_cipher(StorageConfig(encryption_key_file=str(tmp_path / "missing")))
