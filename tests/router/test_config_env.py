"""Every config key has an environment name derived from it, and setting a config through the environment gives
the same config as the YAML file; an unknown VOIMID_* name stops start-up naming the closest key."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from router.config import ENV_ALIASES, ENV_KEYS, RouterConfig, load_config
from settings.env import PROCESS_VARIABLES, variable
from router.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def env_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(getattr(v, "url", v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def leaves(config: RouterConfig) -> dict[str, object]:
    """dotted key -> value, for every field of every section (what the derived names cover)."""
    out = {"environment": config.environment}
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if dataclasses.is_dataclass(value):
            out |= {f"{section.name}.{f.name}": getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    return out


@pytest.mark.parametrize("shipped", ["config/production.yaml", "vomid/default.yaml"])
def test_every_key_through_the_environment_equals_the_file(shipped, tmp_path):
    from_file = load_config(ROOT / shipped, env={})
    values = {k: v for k, v in leaves(from_file).items() if v is not None}
    derived = {dotted: var for var, dotted in ENV_KEYS.items() if var not in ENV_ALIASES}
    assert set(leaves(from_file)) <= set(derived), "a key without an environment name"
    env = {derived[key]: env_text(value) for key, value in values.items()}
    from_env = load_config(None, env=env)
    assert from_env == from_file, [k for k in values if leaves(from_env)[k] != values[k]]


def test_derived_names_follow_the_dotted_keys():
    assert ENV_KEYS["VOIMID_TRITON_STRATEGY"] == "triton.strategy"
    assert ENV_KEYS["VOIMID_API_MAX_SECONDS"] == "api.max_seconds"
    assert ENV_KEYS["VOIMID_STORAGE_REDIS_TIMEOUT_S"] == "storage.redis_timeout_s"
    assert ENV_KEYS["VOIMID_TRITON_URLS"] == "triton.instances"  # a documented alias
    config = load_config(None, env={"VOIMID_TRITON_STRATEGY": "round_robin", "VOIMID_API_MAX_SECONDS": "12",
                                    "VOIMID_AUTH_ENABLED": "false"})
    assert config.triton.strategy == "round_robin" and config.api.max_seconds == 12.0


@pytest.mark.parametrize("name, closest", [("VOIMID_TRITON_STRATEGIE", "VOIMID_TRITON_STRATEGY"),
                                           ("VOIMID_API_PROT", "VOIMID_API_PORT")])
def test_an_unknown_variable_names_the_closest_key(name, closest):
    with pytest.raises(ConfigError, match=rf"^{name}: unknown setting \(did you mean {closest}\?\)"):
        load_config(None, env={name: "1"})


def test_process_variables_and_other_prefixes_are_not_the_routers_business():
    """Every process-level VOIMID_ name (export, launcher, SDK, tools) may share the router's environment."""
    env = {name: "1" for name in PROCESS_VARIABLES} | {"VOMID_API_KEY": "k", "VOMID_ANYTHING": "1",
                                                      "VOIMID_AUTH_ENABLED": "false"}
    assert load_config(None, env=env).api.port == 8080
    assert not set(PROCESS_VARIABLES) & set(ENV_KEYS), "a process variable must not also be a config key"


def test_a_process_variable_reads_its_old_spelling_with_a_warning(monkeypatch):
    monkeypatch.setattr("settings.env._warned", set())   # warned once per process: start from none
    assert variable("MODEL", {"VOIMID_MODEL": "ge2e", "VOMID_MODEL": "campplus"}) == "ge2e"   # the new name wins
    with pytest.warns(FutureWarning, match="VOMID_OFFLINE is deprecated: set VOIMID_OFFLINE"):
        assert variable("OFFLINE", {"VOMID_OFFLINE": "1"}) == "1"
    with pytest.warns(FutureWarning, match="VOMID_API_KEYS is deprecated: set VOIMID_LOCUST_KEYS"):
        assert variable("LOCUST_KEYS", {"VOMID_API_KEYS": "a,b"}, legacy_name="API_KEYS") == "a,b"
    assert variable("SHARED", {}) is None
    with pytest.raises(KeyError, match="VOIMID_NOPE is not a declared process variable"):
        variable("NOPE", {})


def test_not_a_number_is_refused_in_every_section(tmp_path):
    for section, key in (("storage", "redis_timeout_s"), ("api", "max_seconds"), ("triton", "timeout_s")):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({"auth": {"enabled": False}, section: {key: "nan"}}))
        with pytest.raises(ConfigError, match=rf"^{section}\.{key}: must be a finite number"):
            load_config(path, env={})
