"""Builds a dataclass section from a mapping: every value coerced from the field's type hint, unknown keys refused.

Errors are raised as the caller's error class with a message that starts with the dotted key
("storage.redis_timeout_s: must be a finite number"), so each package keeps its own error type.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def mapping(key: str, value: Any, error: Callable[[str], Exception]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise error(f"{key}: must be a mapping, got {type(value).__name__}")
    return dict(value)


def reject_unknown(raw: Mapping[str, Any], known: set[str], prefix: str, error: Callable[[str], Exception]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise error(f"{prefix}{unknown[0]}: unknown setting")


def build(cls: type[T], raw: Any, prefix: str, error: Callable[[str], Exception],
          special: Mapping[str, Callable[[str, Any], Any]] | None = None, **init: Any) -> T:
    """`cls(**coerced raw, **init)`, then `validate()` if the class has one. `special` parses fields of its own
    kinds (called with the dotted key and the raw value); `init` passes InitVars such as an error-message prefix."""
    raw = mapping(prefix.rstrip(".") or "config", raw or {}, error)
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    reject_unknown(raw, fields, prefix, error)
    special = special or {}
    values = {key: special[key](f"{prefix}{key}", value) if key in special
              else coerce(f"{prefix}{key}", value, hints[key], error) for key, value in raw.items()}
    section = cls(**values, **init)
    if hasattr(section, "validate") and not init:  # with InitVars, __post_init__ validated with them
        section.validate()
    return section


def coerce(key: str, value: Any, hint: Any, error: Callable[[str], Exception]) -> Any:
    """A file value (typed) or an environment value (a string) as the type `hint` asks for, or `error`."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union or (args and type(None) in args):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if value is None:
        raise error(f"{key}: must not be null")
    if typing.get_origin(hint) is list:
        return _strings(key, value, error)
    parse = _PARSERS.get(hint)
    return value if parse is None else parse(key, value, error)


def _strings(key: str, value: Any, error) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise error(f"{key}: must be a list of strings")
    return list(value)


def _bool(key: str, value: Any, error) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise error(f"{key}: must be a boolean, got {value!r}")


def _int(key: str, value: Any, error) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{key}: must be an integer, got {value!r}") from None


def _float(key: str, value: Any, error) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{key}: must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise error(f"{key}: must be a finite number")
    return number


def _str(key: str, value: Any, error) -> str:
    if isinstance(value, (dict, list, bool)):
        raise error(f"{key}: must be a string, got {value!r}")
    return str(value)


_PARSERS = {bool: _bool, int: _int, float: _float, str: _str}
