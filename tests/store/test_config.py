"""StorageConfig.from_dict: flat, env-friendly, and errors that name the key."""
import pytest

from store.config import StorageConfig
from store.errors import StoreConfigError


def test_defaults_and_string_coercion():
    cfg = StorageConfig.from_dict({"type": "redis", "redis_port": "6380", "dim": "192",
                                   "redis_timeout_s": "0.5", "encryption_old_keys": "a, b"})
    assert (cfg.redis_port, cfg.dim, cfg.redis_timeout_s) == (6380, 192, 0.5)
    assert cfg.encryption_old_keys == ["a", "b"]
    assert StorageConfig.from_dict(None).type == "file"


@pytest.mark.parametrize("d, key", [
    ({"type": "mysql"}, "storage.type"),
    ({"db_table_prefix": "Bad-Prefix"}, "storage.db_table_prefix"),
    ({"nope": 1}, "storage.nope"),
    ({"dim": 0}, "storage.dim"),
    ({"dim": "abc"}, "storage.dim"),
    ({"score_policy": "mean"}, "storage.score_policy"),
    ({"hnsw_m": 1}, "storage.hnsw_m"),
    ({"redis_port": True}, "storage.redis_port"),
    ({"path": None}, "storage.path"),
])
def test_errors_name_the_key(d, key):
    with pytest.raises(StoreConfigError, match=key):
        StorageConfig.from_dict(d)
