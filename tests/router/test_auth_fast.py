"""Fast unit tests of router.auth (no HTTP): key lines, scopes and what they imply, the key ring's sources,
authentication and the headers a key is read from, with exact error texts and codes. Part of the mutation check
(scripts/mutation.sh); test_auth.py covers the same through a running router."""
from __future__ import annotations

import hashlib

import pytest

from router.auth import KEY_PREFIX, ApiKey, KeyRing, hash_key, key_line, new_key, parse_line, presented_key, require
from router.config import AuthConfig
from router.errors import ConfigError, Forbidden, Unauthorized

SHA_ONE = hashlib.sha256(b"vmd_one").hexdigest()


def ring_of(*lines: str) -> KeyRing:
    return KeyRing.from_config(AuthConfig(keys=list(lines)))


def test_hash_and_line_format():
    assert hash_key("vmd_one") == "sha256:" + SHA_ONE
    assert key_line("ops", ["admin", "verify"], "vmd_one") == f"ops admin,verify sha256:{SHA_ONE}"


def test_new_keys_are_long_random_and_prefixed():
    a, b = new_key(), new_key()
    assert a.startswith(KEY_PREFIX) and a != b
    assert len(a) == len(KEY_PREFIX) + 43   # token_urlsafe(32): 32 random bytes, 43 characters


def test_parse_line_reads_id_scopes_and_digest():
    key = parse_line(f"  ops verify,identify,,  sha256:{SHA_ONE}  # a comment", "where")
    assert key == ApiKey("ops", frozenset({"verify", "identify"}), bytes.fromhex(SHA_ONE))
    assert parse_line("# only a comment", "where") is None and parse_line("   ", "where") is None
    assert parse_line(f"ops admin sha256:{SHA_ONE}  # old key # rotated 2024", "where").key_id == "ops"


@pytest.mark.parametrize("line, message", [
    ("onlyid", "f:3: expected '<key_id> <scopes> sha256:<hex>'"),
    ("id admin extra sha256:" + "0" * 64, "f:3: expected '<key_id> <scopes> sha256:<hex>'"),
    ("id admin md5:" + "0" * 64, "f:3: expected '<key_id> <scopes> sha256:<hex>'"),
    ("id admin,root sha256:" + "0" * 64, "f:3: unknown scope root; use admin, verify, identify, label"),
    ("id zeta,root sha256:" + "0" * 64, "f:3: unknown scope root; use admin, verify, identify, label"),
    ("id , sha256:" + "0" * 64, "f:3: unknown scope (none); use admin, verify, identify, label"),
    ("id admin sha256:xyz", "f:3: the hash is not hex"),
    ("id admin sha256:abcd", "f:3: a sha256 hash has 64 hex digits"),
    ("id admin sha256:" + "0" * 66, "f:3: a sha256 hash has 64 hex digits"),
    ("id admin sha256:" + "0" * 62, "f:3: a sha256 hash has 64 hex digits"),
])
def test_bad_key_lines_say_what_and_where(line, message):
    with pytest.raises(ConfigError) as err:
        parse_line(line, "f:3")
    assert str(err.value) == message


def test_scopes_and_what_they_imply():
    admin, verify, identify = (ApiKey("k", frozenset({s}), b"") for s in ("admin", "verify", "identify"))
    assert all(admin.allows(s) for s in ("admin", "verify", "identify"))
    assert verify.allows("verify") and not verify.allows("identify") and not verify.allows("admin")
    assert identify.allows("identify") and identify.allows("verify") and not identify.allows("admin")
    both = ApiKey("k", frozenset({"verify", "identify"}), b"")
    assert both.allows("identify") and not both.allows("admin")


def test_require():
    require(None, "admin")   # auth disabled
    require(ApiKey("k", frozenset({"identify"}), b""), "verify")
    with pytest.raises(Forbidden) as err:
        require(ApiKey("k", frozenset({"verify"}), b""), "admin")
    assert (err.value.message, err.value.code, err.value.status) == \
        ("this API key lacks the 'admin' scope", "insufficient_scope", 403)


def test_authenticate_finds_the_matching_key_only():
    ring = ring_of(f"ops admin {hash_key('vmd_one')}", f"bot verify {hash_key('vmd_two')}",
                   f"ro identify {hash_key('vmd_three')}")
    assert [ring.authenticate(k).key_id for k in ("vmd_one", "vmd_two", "vmd_three")] == ["ops", "bot", "ro"]
    for presented, message, code in ((None, "missing API key (X-API-Key header or Authorization: Bearer)",
                                      "missing_api_key"), ("", "missing API key (X-API-Key header or Authorization: "
                                                           "Bearer)", "missing_api_key"),
                                     ("vmd_four", "unknown API key", "invalid_api_key"),
                                     ("vmd_one ", "unknown API key", "invalid_api_key"),
                                     ("vmd_\udcff", "unknown API key", "invalid_api_key")):
        with pytest.raises(Unauthorized) as err:
            ring.authenticate(presented)
        assert (err.value.message, err.value.code, err.value.status) == (message, code, 401)


def test_a_non_ascii_key_is_hashed_as_utf8():
    ring = ring_of(f"u verify {hash_key('vmd_clé')}")
    assert ring.authenticate("vmd_clé").key_id == "u"


def test_the_last_of_duplicate_hashes_wins_and_all_are_compared():
    ring = ring_of(f"first verify {hash_key('vmd_same')}", f"second admin {hash_key('vmd_same')}")
    assert ring.authenticate("vmd_same").key_id == "second"


def test_key_ring_sources_in_order(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# comment\nops admin {hash_key('vmd_file')}\n\nbot verify {hash_key('vmd_file2')}  # x\n")
    config = AuthConfig(keys_file=str(path), keys=[f"inline identify {hash_key('vmd_inline')}", "# none"],
                        env_keys=["verify|identify:vmd_env0", "admin:vmd_env1"])
    ring = KeyRing.from_config(config)
    assert [k.key_id for k in ring.keys] == ["ops", "bot", "inline", "env0", "env1"]
    assert ring.authenticate("vmd_env0").scopes == {"verify", "identify"}
    assert ring.authenticate("vmd_env1").scopes == {"admin"}
    assert ring.authenticate("vmd_inline").scopes == {"identify"}


def test_an_env_key_may_hold_colons():
    ring = KeyRing.from_config(AuthConfig(env_keys=["verify|identify:secret:with:colons"]))
    assert ring.authenticate("secret:with:colons").scopes == {"verify", "identify"}


@pytest.mark.parametrize("env_key, message", [
    ("verify", "auth.env_keys[1]: expected '<scope>[|scope]:<key>' (VOIMID_API_KEYS)"),
    ("verify:", "auth.env_keys[1]: expected '<scope>[|scope]:<key>' (VOIMID_API_KEYS)"),
    ("root:vmd_x", "auth.env_keys[1]: unknown scope root; use admin, verify, identify, label"),
])
def test_bad_env_keys_name_their_place(env_key, message):
    with pytest.raises(ConfigError) as err:
        KeyRing.from_config(AuthConfig(env_keys=["admin:vmd_ok", env_key]))
    assert str(err.value) == message


def test_bad_lines_in_the_file_and_config_name_their_place(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"ops admin {hash_key('vmd_a')}\nbroken\n")
    with pytest.raises(ConfigError) as err:
        KeyRing.from_config(AuthConfig(keys_file=str(path)))
    assert str(err.value).startswith("auth.keys_file:2: expected")
    with pytest.raises(ConfigError) as err:
        KeyRing.from_config(AuthConfig(keys=[f"ops admin {hash_key('vmd_a')}", "broken"]))
    assert str(err.value).startswith("auth.keys[1]: expected")


def test_unreadable_or_empty_key_file(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError) as err:
        KeyRing.from_config(AuthConfig(keys_file=str(missing)))
    assert str(err.value) == f"auth.keys_file: cannot read {missing}: No such file or directory"
    empty = tmp_path / "empty"
    empty.write_text("# no keys yet\n")
    with pytest.raises(ConfigError) as err:
        KeyRing.from_config(AuthConfig(keys_file=str(empty)))
    assert str(err.value) == "auth.keys_file: auth is enabled but the key file holds no keys"
    assert KeyRing.from_config(AuthConfig(enabled=False, keys_file=str(empty))).keys == []


@pytest.mark.parametrize("headers, expected", [
    ({"X-API-Key": " vmd_a "}, "vmd_a"),
    ({"X-API-Key": "vmd_a", "Authorization": "Bearer vmd_b"}, "vmd_a"),
    ({"Authorization": "Bearer vmd_b"}, "vmd_b"),
    ({"Authorization": "bearer  vmd_b "}, "vmd_b"),
    ({"Authorization": "BEARER vmd_b"}, "vmd_b"),
    ({"Authorization": "Basic dXNlcjpwdw=="}, None),
    ({"Authorization": "Bearer "}, None),
    ({"Authorization": "Bearer"}, None),
    ({"X-API-Key": ""}, None),
    ({}, None),
])
def test_presented_key(headers, expected):
    assert presented_key(headers) == expected
