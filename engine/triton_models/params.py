"""Reads a Triton model config's `parameters` block (a dict of {"string_value": ...})."""
from __future__ import annotations

import json


def model_parameters(args: dict) -> dict[str, str]:
    config = json.loads(args["model_config"])
    return {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
