"""Environment variables: one prefix (`VOIMID_`), names derived from the dotted keys, nothing unknown accepted.

`VOIMID_<SECTION>_<KEY>` sets `<section>.<key>` (e.g. VOIMID_TRITON_STRATEGY -> triton.strategy). A few shorter
names the product has always documented stay as aliases (the caller passes them). A `VOIMID_` name that is neither
is an error naming the closest known one: a typo must not be silently ignored.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Mapping

PREFIX = "VOIMID_"
# Read outside the router's config sections (the store's key), so never "unknown" to the router.
PROCESS_VARIABLES = frozenset({PREFIX + "ENCRYPTION_KEY"})


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
