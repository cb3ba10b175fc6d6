"""Writes the Triton model repository: features model, embedding model, and the waveform->embedding ensemble."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.features import FbankConfig

TARGETS = ("cpu", "onnx-gpu", "tensorrt")
FEATURES_MODEL = "fbank"
EMBEDDING_MODEL = "campplus"
ENSEMBLE_MODEL = "speaker"
MANIFEST = "manifest.json"

_SHIM = '''"""Triton entry point. The implementation lives in {module} (importable and tested outside Triton)."""
import os
import sys

# Triton's python stub starts an isolated interpreter: the launcher passes the project's import paths here.
sys.path[:0] = [p for p in os.environ.get("VOMID_PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]

from {module} import TritonPythonModel  # noqa: E402,F401
'''


@dataclass
class RepositoryOptions:
    target: str = "cpu"
    max_batch_size: int = 64
    max_queue_delay_us: int = 2000
    # Requests a model queues before Triton refuses more (UNAVAILABLE "Exceeds maximum queue size"): a bound on
    # the work routers sharing this server can pile up; each router bounds its own share by admission control.
    max_queue_size: int = 256
    feature_instances: int = 2
    embedding_instances: int = 1
    intra_op_threads: int = 0
    inter_op_threads: int = 1
    max_batch_frames: int = 6000
    min_frames: int = 10
    preferred_batch_sizes: list[int] = field(default_factory=lambda: [8, 16, 32])

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        for name in ("max_batch_size", "feature_instances", "embedding_instances", "max_batch_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_queue_delay_us < 0:
            raise ValueError("max_queue_delay_us must be >= 0")
        if self.max_queue_size < 1:
            raise ValueError("max_queue_size must be >= 1")


@dataclass
class Manifest:
    embedding_dim: int
    source: str
    random_weights: bool
    target: str
    model_sha256: str
    parity_cosines: list[float]


def write_repository(root: Path, model_file: Path, manifest: Manifest, options: RepositoryOptions) -> Path:
    """Replaces `root`'s three models; `model_file` is model.onnx (cpu/onnx-gpu) or model.plan (tensorrt)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in (FEATURES_MODEL, EMBEDDING_MODEL, ENSEMBLE_MODEL):
        shutil.rmtree(root / name, ignore_errors=True)
        (root / name / "1").mkdir(parents=True)

    _write(root / FEATURES_MODEL / "config.pbtxt", features_config(options))
    _write(root / FEATURES_MODEL / "1" / "model.py", _SHIM.format(module="engine.triton_models.fbank_model"))

    _write(root / EMBEDDING_MODEL / "config.pbtxt", embedding_config(options, manifest.embedding_dim))
    target_name = "model.plan" if options.target == "tensorrt" else "model.onnx"
    shutil.copyfile(model_file, root / EMBEDDING_MODEL / "1" / target_name)
    if options.target == "cpu":
        _write(root / EMBEDDING_MODEL / "1" / "model.py", _SHIM.format(module="engine.triton_models.campplus_model"))

    _write(root / ENSEMBLE_MODEL / "config.pbtxt", ensemble_config(options, manifest))
    _write(root / ENSEMBLE_MODEL / MANIFEST, json.dumps(asdict(manifest), indent=2) + "\n")
    return root


def read_manifest(root: Path) -> Manifest:
    return Manifest(**json.loads((root / ENSEMBLE_MODEL / MANIFEST).read_text()))


def features_config(options: RepositoryOptions) -> str:
    params = FbankConfig().as_params() | {"min_frames": str(options.min_frames)}
    return f"""name: "{FEATURES_MODEL}"
backend: "python"
max_batch_size: {options.max_batch_size}
# Waveforms of different lengths are batched together; the model handles each request's length itself.
input [ {{ name: "waveform" data_type: TYPE_FP32 dims: [ -1 ] allow_ragged_batch: true }} ]
output [ {{ name: "fbank" data_type: TYPE_FP32 dims: [ -1, 80 ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: {options.max_queue_delay_us} {_queue_policy(options)} }}
instance_group [ {{ kind: KIND_CPU count: {options.feature_instances} }} ]
{_parameters(params)}
"""


def embedding_config(options: RepositoryOptions, embedding_dim: int) -> str:
    batching = _dynamic_batching(options)
    if options.target == "cpu":
        params = {
            "onnx_file": "model.onnx",
            "intra_op_threads": str(options.intra_op_threads),
            "inter_op_threads": str(options.inter_op_threads),
            "max_batch_frames": str(options.max_batch_frames),
        }
        return f"""name: "{EMBEDDING_MODEL}"
backend: "python"
max_batch_size: {options.max_batch_size}
# Mixed lengths arrive in one execute(); engine.embedder groups them by exact frame count (no padding).
input [ {{ name: "fbank" data_type: TYPE_FP32 dims: [ -1, 80 ] allow_ragged_batch: true }} ]
output [ {{ name: "embedding" data_type: TYPE_FP32 dims: [ {embedding_dim} ] }} ]
{batching}
instance_group [ {{ kind: KIND_CPU count: {options.embedding_instances} }} ]
{_parameters(params)}
"""
    platform = "onnxruntime_onnx" if options.target == "onnx-gpu" else "tensorrt_plan"
    file_name = "model.onnx" if options.target == "onnx-gpu" else "model.plan"
    # Dense backends batch only requests of equal frame count: the same exact-length grouping as on CPU.
    return f"""name: "{EMBEDDING_MODEL}"
platform: "{platform}"
default_model_filename: "{file_name}"
max_batch_size: {options.max_batch_size}
input [ {{ name: "fbank" data_type: TYPE_FP32 dims: [ -1, 80 ] }} ]
output [ {{ name: "embedding" data_type: TYPE_FP32 dims: [ {embedding_dim} ] }} ]
{batching}
instance_group [ {{ kind: KIND_GPU count: {options.embedding_instances} }} ]
"""


def ensemble_config(options: RepositoryOptions, manifest: Manifest) -> str:
    params = {
        "embedding_dim": str(manifest.embedding_dim),
        "random_weights": str(manifest.random_weights).lower(),
        "source": manifest.source,
        "model_sha256": manifest.model_sha256,
        "target": options.target,
    }
    return f"""name: "{ENSEMBLE_MODEL}"
platform: "ensemble"
max_batch_size: {options.max_batch_size}
input [ {{ name: "waveform" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "embedding" data_type: TYPE_FP32 dims: [ {manifest.embedding_dim} ] }} ]
ensemble_scheduling {{
  step [
    {{
      model_name: "{FEATURES_MODEL}"
      model_version: -1
      input_map {{ key: "waveform" value: "waveform" }}
      output_map {{ key: "fbank" value: "features" }}
    }},
    {{
      model_name: "{EMBEDDING_MODEL}"
      model_version: -1
      input_map {{ key: "fbank" value: "features" }}
      output_map {{ key: "embedding" value: "embedding" }}
    }}
  ]
}}
{_parameters(params)}
"""


def _dynamic_batching(options: RepositoryOptions) -> str:
    preferred = [b for b in options.preferred_batch_sizes if b <= options.max_batch_size]
    preferred_line = f"preferred_batch_size: [ {', '.join(map(str, preferred))} ] " if preferred else ""
    return (f"dynamic_batching {{ {preferred_line}max_queue_delay_microseconds: {options.max_queue_delay_us} "
            f"{_queue_policy(options)} }}")


def _queue_policy(options: RepositoryOptions) -> str:
    # A request whose timeout (the router's deadline) passed while it queued is rejected, not computed.
    return (f"default_queue_policy {{ timeout_action: REJECT allow_timeout_override: true "
            f"max_queue_size: {options.max_queue_size} }}")


def _parameters(params: dict[str, str]) -> str:
    return "\n".join(
        f'parameters {{ key: "{key}" value: {{ string_value: {json.dumps(value)} }} }}' for key, value in params.items()
    )


def _write(path: Path, text: str) -> None:
    path.write_text(text)
