"""router.auth key handling without HTTP: key files, env keys, bad lines, and `python -m router.keys`."""
from __future__ import annotations

import subprocess
import sys

import pytest

from router.auth import KeyRing, hash_key, parse_line
from router.config import AuthConfig
from router.errors import ConfigError, Unauthorized


def test_enabled_auth_needs_keys():
    with pytest.raises(ConfigError, match="auth.keys_file"):
        AuthConfig(enabled=True).validate()


def test_keyring_from_file_and_env(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# comment\nops admin {hash_key('vmd_one')}\n\nbot verify {hash_key('vmd_two')}  # trailing\n")
    ring = KeyRing.from_config(AuthConfig(keys_file=str(path), env_keys=["verify|admin:vmd_three"]))
    assert ring.authenticate("vmd_one").key_id == "ops"
    assert ring.authenticate("vmd_two").scopes == {"verify"}
    assert ring.authenticate("vmd_three").allows("admin")
    with pytest.raises(Unauthorized):
        ring.authenticate("vmd_four")


@pytest.mark.parametrize("line,message", [
    ("onlyid", "expected"), ("id admin md5:abc", "expected"), ("id root sha256:" + "0" * 64, "unknown scope"),
    ("id admin sha256:xyz", "not hex"), ("id admin sha256:abcd", "64 hex digits"),
])
def test_bad_key_lines_name_the_place(line, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_line(line, "auth.keys_file:3")
    assert str(error.value).startswith("auth.keys_file:3")


def test_keys_cli_prints_a_working_key(tmp_path):
    path = tmp_path / "keys"
    result = subprocess.run([sys.executable, "-m", "router.keys", "new", "--scope", "admin", "--id", "cli",
                             "--file", str(path)], capture_output=True, text=True, check=True)
    key = result.stdout.strip()
    assert key.startswith("vmd_") and key not in path.read_text()
    assert KeyRing.from_config(AuthConfig(keys_file=str(path))).authenticate(key).key_id == "cli"
    assert path.stat().st_mode & 0o077 == 0
