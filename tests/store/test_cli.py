"""`python -m store` commands: gen-key, backup, restore, rotate-key (file backend, in process)."""
import asyncio

import numpy as np

from store.cli import load_config, main
from store.factory import create_store


def _make_users(config, n: int) -> list[str]:
    async def go():
        async with create_store(config) as s:
            rng = np.random.default_rng(0)
            return [(await s.create_user(f"c{i}", [rng.standard_normal(16)])).user_id for i in range(n)]
    return asyncio.run(go())


def _ids(config) -> list[str]:
    async def go():
        async with create_store(config) as s:
            return [u.user_id for u in (await s.list_users(limit=1000)).items]
    return asyncio.run(go())


def test_gen_key_backup_restore_rotate(tmp_path, capsys):
    key, new_key = tmp_path / "k1", tmp_path / "k2"
    assert main(["gen-key", "--out", str(key)]) == 0
    assert main(["gen-key", "--out", str(new_key)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    conf = tmp_path / "storage.yaml"
    conf.write_text(f"storage:\n  type: file\n  path: {tmp_path / 'a'}\n  encryption_key_file: {key}\n")
    src = load_config(str(conf), [])
    made = _make_users(src, 4)

    assert main(["backup", "--config", str(conf), str(tmp_path / "b.bak")]) == 0
    target = ["--config", str(conf), "--set", f"path={tmp_path / 'b'}"]
    assert main(["restore", *target, str(tmp_path / "b.bak")]) == 0
    assert "restored 0 users" in capsys.readouterr().out   # the new store holds none of their data keys
    assert main(["restore", *target, "--keys-from", str(conf), str(tmp_path / "b.bak")]) == 0
    assert "restored 4 users into file; skipped 0" in capsys.readouterr().out
    assert _ids(load_config(str(conf), [f"path={tmp_path / 'b'}"])) == made
    assert main(["restore", *target, str(tmp_path / "b.bak")]) == 1  # not empty
    assert "not empty" in capsys.readouterr().err

    assert main(["rotate-key", "--config", str(conf), "--new-key-file", str(new_key)]) == 0
    assert main(["backup", "--config", str(conf), str(tmp_path / "c.bak")]) == 1  # old key no longer opens it
    assert "wrong key" in capsys.readouterr().err
    rotated = load_config(str(conf), [f"encryption_key_file={new_key}"])
    assert _ids(rotated) == made
