"""Reads a Triton model config's `parameters` block (a dict of {"string_value": ...}) and what it configures."""
from __future__ import annotations

import json
import os

from engine.embedder import EmbedderConfig


def model_parameters(args: dict) -> dict[str, str]:
    config = json.loads(args["model_config"])
    return {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}


def embedder_config(params: dict[str, str]) -> EmbedderConfig:
    return EmbedderConfig(
        intra_op_threads=int(params.get("intra_op_threads", "0")),
        inter_op_threads=int(params.get("inter_op_threads", "1")),
        max_batch_frames=int(params.get("max_batch_frames", "6000")),
    )


def onnx_file(args: dict, params: dict[str, str]) -> str:
    return os.path.join(args["model_repository"], args["model_version"], params.get("onnx_file", "model.onnx"))
