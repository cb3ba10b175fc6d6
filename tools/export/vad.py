"""Writes the `vad` Triton model: Silero VAD's ONNX file, copied from the `silero-vad` package at export time.

Only the export needs the package (and the torch it depends on); serving runs the copied file with onnxruntime in
the python backend (engine/triton_models/vad_model.py), so Triton hosts need neither.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from tools.export.errors import ExportError
from tools.export.configs import parameters_block, queue_policy
from tools.export.repository import _SHIM, RepositoryOptions

log = logging.getLogger(__name__)

VAD_MODEL = "vad"
ONNX_NAME = "silero_vad.onnx"
VAD_MANIFEST = "manifest.json"
# Recordings in flight at once that one execute() may serve together (each request is one recording's chunk).
VAD_MAX_BATCH = 16


def silero_onnx() -> tuple[Path, str]:
    """The stock 16 kHz/8 kHz Silero model shipped in the silero-vad wheel, and where it came from."""
    try:
        version = metadata.version("silero-vad")
        path = Path(str(resources.files("silero_vad.data").joinpath(ONNX_NAME)))
    except (metadata.PackageNotFoundError, ModuleNotFoundError):
        raise ExportError("the VAD model comes from the silero-vad package: pip install 'edge-vomid[export]' "
                          "(or pass --no-vad to export without speech labelling)") from None
    if not path.is_file():
        raise ExportError(f"silero-vad {version} does not ship {ONNX_NAME}")
    return path, f"silero-vad=={version}"


def vad_config(options: RepositoryOptions) -> str:
    params = {"onnx_file": ONNX_NAME, "intra_op_threads": "1"}
    return f"""name: "{VAD_MODEL}"
backend: "python"
max_batch_size: {min(options.max_batch_size, VAD_MAX_BATCH)}
# One request = one chunk of one recording (N a multiple of 512 samples) with the LSTM state and the 64-sample
# context it carries over from the previous chunk; equal-length chunks of concurrent recordings run as one batch.
input [
  {{ name: "waveform" data_type: TYPE_FP32 dims: [ -1 ] }},
  {{ name: "state" data_type: TYPE_FP32 dims: [ 2, 128 ] }},
  {{ name: "context" data_type: TYPE_FP32 dims: [ 64 ] }}
]
output [
  {{ name: "probability" data_type: TYPE_FP32 dims: [ -1 ] }},
  {{ name: "state_out" data_type: TYPE_FP32 dims: [ 2, 128 ] }},
  {{ name: "context_out" data_type: TYPE_FP32 dims: [ 64 ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: {options.max_queue_delay_us} {queue_policy(options)} }}
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
{parameters_block(params)}
"""


def write_vad_model(root: Path, options: RepositoryOptions, onnx_file: Path | None = None) -> Path:
    """Replaces root/vad with the Silero model; checks it runs before anything is written."""
    source_file, source = (onnx_file, f"file:{onnx_file}") if onnx_file else silero_onnx()
    _self_check(source_file)
    target = root / VAD_MODEL
    shutil.rmtree(target, ignore_errors=True)
    (target / "1").mkdir(parents=True)
    shutil.copyfile(source_file, target / "1" / ONNX_NAME)
    (target / "1" / "model.py").write_text(_SHIM.format(module="engine.triton_models.vad_model"))
    (target / "config.pbtxt").write_text(vad_config(options))
    manifest = {"source": source, "file": ONNX_NAME, "sha256": _sha256(source_file), "sample_rate": 16000,
                "frame_samples": 512}
    (target / VAD_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("vad model written to %s (%s)", target, source)
    return target


def _self_check(path: Path) -> None:
    from engine.vad import SileroVad

    try:
        probs = SileroVad(path).probabilities(np.zeros(4096, np.float32))
    except Exception as exc:  # onnxruntime says why in its own words; the operator needs them
        raise ExportError(f"{path} is not a usable Silero VAD model: {exc}") from None
    if probs.shape != (8,) or not np.all((probs >= 0) & (probs <= 1)):
        raise ExportError(f"{path} does not give one probability in [0, 1] per 512-sample window")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
