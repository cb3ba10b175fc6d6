"""Environment variables: one prefix (`VOIMID_`), names derived from the dotted keys, nothing unknown accepted.

`VOIMID_<SECTION>_<KEY>` sets `<section>.<key>` (e.g. VOIMID_TRITON_STRATEGY -> triton.strategy). A few shorter
names the product has always documented stay as aliases (the caller passes them). A `VOIMID_` name that is neither
a config key nor one of the process-level variables below is an error naming the closest known one: a typo must
not be silently ignored. The process-level variables (export, launcher, SDK, tools) are read with `variable()`,
which still accepts their old `VOMID_` spelling, with a warning.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import warnings
from typing import Any, Callable, Mapping

PREFIX = "VOIMID_"
LEGACY_PREFIX = "VOMID_"  # the export, launcher, SDK and tools used this spelling before; still read, with a warning
# Read outside the router's config sections, so never "unknown" to the router (it may share their environment).
PROCESS_NAMES = (
    "ENCRYPTION_KEY",                                                      # the store's key
    "MODEL", "MODEL_PATH", "OFFLINE", "SHARED",                            # export: which model, weights, speech
    "TRITONSERVER", "PYTHONPATH",                                          # the tritonserver launcher
    "API_KEY", "URL", "CA_FILE", "CACHE_DIR",                              # SDK, CLI and load tools
    "LOCUST_KEYS", "LOCUST_RATE", "LOCUST_AUDIO", "LOCUST_LOG", "LOCUST_ACKED",           # loadtest/locustfile.py
    "FUZZ_CHECKS", "FUZZ_SEED", "FUZZ_EXAMPLES", "FUZZ_AUDIO_DIR",         # scripts/fuzz_api.sh
    "CLUSTER_DIR", "PYTHON", "EXPORT_TARGET", "FORCE_EXPORT", "MODEL_REPOSITORY",  # deploy.sh and the images
    "HTTPS_PORT", "TLS_HOSTNAMES", "PROMETHEUS_BIND", "PROMETHEUS_PORT", "GRAFANA_BIND", "GRAFANA_PORT",
    "ALERTMANAGER_BIND", "ALERTMANAGER_PORT", "BACKUP_INTERVAL_S", "BACKUP_KEEP_DAYS", "ESCROW_KEEP_DAYS",
)
PROCESS_VARIABLES = frozenset(PREFIX + name for name in PROCESS_NAMES)
_warned: set[str] = set()


def variable(name: str, env: Mapping[str, str] | None = None, legacy_name: str | None = None) -> str | None:
    """The process-level variable VOIMID_<name> (one of PROCESS_NAMES), else its deprecated spelling
    VOMID_<legacy_name or name> (warned about once per name); None when neither is set."""
    if name not in PROCESS_NAMES:
        raise KeyError(f"{PREFIX}{name} is not a declared process variable (settings.env.PROCESS_NAMES)")
    env = os.environ if env is None else env
    if PREFIX + name in env:
        return env[PREFIX + name]
    legacy = LEGACY_PREFIX + (legacy_name or name)
    if legacy in env:
        if legacy not in _warned:
            _warned.add(legacy)
            warnings.warn(f"{legacy} is deprecated: set {PREFIX}{name}", FutureWarning, stacklevel=2)
        return env[legacy]
    return None


def derived_names(cls: type, sections: Mapping[str, type]) -> dict[str, str]:
    """VOIMID_<SECTION>_<KEY> -> "section.key" for every field of every section, top-level fields of `cls` too."""
    names = {}
    for f in dataclasses.fields(cls):
        if f.name not in sections:
            names[PREFIX + f.name.upper()] = f.name
    for section, kind in sections.items():
        for f in dataclasses.fields(kind):
            if f.init:
                names[f"{PREFIX}{section.upper()}_{f.name.upper()}"] = f"{section}.{f.name}"
    return names


def unknown_variables(env: Mapping[str, str], known: set[str]) -> list[tuple[str, str | None]]:
    """Every VOIMID_* name in `env` not in `known` (nor a process variable), with the closest known name."""
    known = set(known) | PROCESS_VARIABLES
    return [(name, next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.6)), None))
            for name in sorted(env) if name.startswith(PREFIX) and name not in known]


def apply_variables(raw: dict[str, Any], env: Mapping[str, str], keys: Mapping[str, str],
                    error: Callable[[str], Exception], lists: frozenset[str] = frozenset(),
                    section_aliases: Mapping[str, str] | None = None) -> None:
    """Sets raw[section][key] from every variable of `keys` (name -> dotted key) present in `env`, after refusing
    unknown VOIMID_* names. Keys in `lists` take comma-separated values; a section given in `raw` under an alias
    (section_aliases: name -> alias) is updated there."""
    for name, closest in unknown_variables(env, set(keys)):
        raise error(f"{name}: unknown setting" + (f" (did you mean {closest}?)" if closest else ""))
    for var, dotted in keys.items():
        if var not in env:
            continue
        value: Any = env[var]
        if dotted in lists:
            value = [item.strip() for item in value.split(",") if item.strip()]
        section, _, key = dotted.rpartition(".")
        target = raw
        if section:
            alias = (section_aliases or {}).get(section)
            if alias in raw:
                section = alias
            target = raw.setdefault(section, {})
            if not isinstance(target, dict):
                raise error(f"{section}: must be a mapping")
        target[key] = value
