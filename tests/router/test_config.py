"""router.config: the shipped files load, VOIMID_* overrides apply, and every bad value names its key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.config import RouterConfig, load_config
from router.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NO_AUTH = {"auth": {"enabled": False}}


def test_shipped_configs_load():
    default = load_config(ROOT / "vomid/default.yaml", env={})
    assert default.storage.type == "file" and len(default.triton.instances) == 1 and default.auth.enabled
    assert default.verify.threshold is None and default.api.max_upload_bytes == 10 * 1024 * 1024  # the model's
    production = load_config(ROOT / "config/production.yaml", env={})
    assert production.storage.type == "redis" and len(production.triton.instances) >= 2
    assert production.rate_limit_uses_redis and production.storage.redis_host == production.redis.host


def test_env_overrides(tmp_path):
    env = {"VOIMID_ENVIRONMENT": "staging", "VOIMID_API_HOST": "10.0.0.1", "VOIMID_API_PORT": "9000",
           "VOIMID_STORAGE_TYPE": "redis", "VOIMID_REDIS_HOST": "cache", "VOIMID_REDIS_PORT": "6380",
           "VOIMID_REDIS_PASSWORD": "pw", "VOIMID_TRITON_URLS": "t1:8001, t2:8001",
           "VOIMID_API_KEYS_FILE": "/k", "VOIMID_LOG_LEVEL": "debug", "VOIMID_VERIFY_THRESHOLD": "0.5"}
    config = load_config(ROOT / "vomid/default.yaml", env=env)
    assert (config.environment, config.api.host, config.api.port) == ("staging", "10.0.0.1", 9000)
    assert config.storage.type == "redis" and config.storage.redis_host == "cache"
    assert config.storage.redis_port == 6380 and config.storage.redis_password == "pw"
    assert [i.url for i in config.triton.instances] == ["t1:8001", "t2:8001"]
    assert config.auth.keys_file == "/k" and config.logging.level == "DEBUG" and config.verify.threshold == 0.5


def test_json_file_and_balancer_alias(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**NO_AUTH, "balancer": {"instances": ["h:1"], "retries": 0}}))
    config = load_config(path, env={})
    assert config.triton.instances[0].url == "h:1" and config.triton.retries == 0


@pytest.mark.parametrize("raw,key", [
    ({"api": {"port": 0}}, "api.port: must be an integer 1-65535"),
    ({"api": {"port": "http"}}, "api.port: must be an integer"),
    ({"api": {"max_upload_mb": -1}}, "api.max_upload_mb"),
    ({"api": {"min_seconds": 5, "max_seconds": 2}}, "api.max_seconds"),
    ({"api": {"colour": "red"}}, "api.colour: unknown setting"),
    ({"verify": {"threshold": 1.5}}, "verify.threshold"),
    ({"verify": {"threshold": "high"}}, "verify.threshold: must be a number"),
    ({"rate_limit": {"backend": "memcached"}}, "rate_limit.backend"),
    ({"rate_limit": {"burst": 0}}, "rate_limit.burst"),
    ({"logging": {"level": "LOUD"}}, "logging.level"),
    ({"storage": {"type": "floppy"}}, "storage.type"),
    ({"triton": {"instances": []}}, "triton.instances"),
    ({"triton": {"strategy": "coin"}}, "triton.strategy"),
    ({"environment": "moon"}, "environment"),
    ({"nonsense": 1}, "nonsense: unknown setting"),
    ({"api": [1, 2]}, "api: must be a mapping"),
    ({"auth": {"enabled": "perhaps"}}, "auth.enabled: must be a boolean"),
])
def test_bad_values_name_their_key(raw, key):
    with pytest.raises(ConfigError) as error:
        RouterConfig.from_dict({**NO_AUTH, **raw} if "auth" not in raw else raw)
    assert str(error.value).startswith(key.split(":")[0]) and key in str(error.value)


def test_auth_on_without_keys_is_an_error():
    with pytest.raises(ConfigError, match="^auth.keys_file"):
        RouterConfig.from_dict({})


def test_unreadable_or_invalid_file(tmp_path):
    with pytest.raises(ConfigError, match="config file"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})
