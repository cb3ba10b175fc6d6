"""Voiceprints are tagged with the model that made them: enrolling another model's embedding is refused, every
backend keeps the tag through a restart and a backup, and `reenroll-needed` lists who must enroll again."""
import asyncio
import json

import pytest

from store.backup import backup, restore
from store.cli import main
from store.config import StorageConfig
from store.crypto import Cipher, parse_key
from store.errors import ModelMismatch
from store.factory import create_store

from .conftest import make_config, unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 8
OLD, NEW = "campplus:aaaa", "campplus:bbbb"


@pytest.mark.parametrize("kind", ["memory", "file", "redis", "postgres"])
async def test_the_tag_is_kept_and_another_model_is_refused(kind, tmp_path, key, request, rng):
    config = make_config(kind, tmp_path, key, request)
    async with create_store(config) as store:
        user = await store.create_user("ada", [unit(rng, DIM)], model_id=OLD)
        assert user.model_id == OLD
        with pytest.raises(ModelMismatch):
            await store.add_enrollment(user.user_id, unit(rng, DIM), model_id=NEW)
        assert (await store.add_enrollment(user.user_id, unit(rng, DIM), model_id=OLD)).enrollments == 2
        legacy = await store.create_user("untagged", [unit(rng, DIM)])  # made before models were tagged
        assert (await store.add_enrollment(legacy.user_id, unit(rng, DIM), model_id=NEW)).model_id == NEW
        [match] = [m for m in await store.search(unit(rng, DIM), k=5) if m.user_id == user.user_id]
        assert match.model_id == OLD
        assert (await store.match(user.user_id, unit(rng, DIM))).model_id == OLD
    if kind != "memory":
        async with create_store(config) as reopened:  # the tag is stored, not only remembered
            assert (await reopened.get_user(user.user_id)).model_id == OLD


async def test_backups_keep_the_tag_and_reenroll_needed_lists_the_stale(tmp_path, key, rng, capsys):
    settings = {"type": "file", "path": str(tmp_path / "s"), "encryption_key": key}
    async with create_store(StorageConfig.from_dict(settings)) as store:
        old = await store.create_user("old", [unit(rng, DIM)], model_id=OLD)
        new = await store.create_user("new", [unit(rng, DIM)], model_id=NEW)
        cipher = Cipher(parse_key(key, "k"))
        await backup(store, tmp_path / "b.vmb", cipher)
        async with create_store(StorageConfig.from_dict({"type": "memory", "encryption_key": key})) as copy:
            await restore(copy, tmp_path / "b.vmb", cipher, key_source=store)
            assert (await copy.get_user(old.user_id)).model_id == OLD
    sets = [arg for k, v in settings.items() for arg in ("--set", f"{k}={v}")]
    assert await asyncio.to_thread(main, ["reenroll-needed", *sets, "--model-id", NEW]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["user_id"] for line in lines[:-1]] == [old.user_id]
    assert lines[-1] == f"1 users must re-enroll for model {NEW}" and new.user_id not in "".join(lines)
