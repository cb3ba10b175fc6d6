"""Config files: YAML (or JSON, by suffix) read into a mapping, every failure one error that names the file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import yaml

from settings.typed import mapping


def read_file(path: str | Path, error: Callable[[str], Exception]) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"config file {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise error(f"config file {path}: not valid YAML/JSON: {exc}") from None
    return mapping(str(path), raw or {}, error)
