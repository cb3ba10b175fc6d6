"""Writes the Triton model repository: features model, embedding model, and the waveform->embedding ensemble.

Which models: the manifest's model family (engine.contract). A repository holds one family at a time; writing
one removes the other family's models, so the `speaker` ensemble never sits beside stale models.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from engine.contract import CAMPPLUS, ENSEMBLE_MODEL, FAMILIES, GE2E, family, model_id
from engine.features import FbankConfig
from engine.ge2e_config import Ge2eConfig
from tools.export import configs

TARGETS = ("cpu", "onnx-gpu", "tensorrt", "libtorch")
# The CAM++ front end: kaldi-native-fbank one utterance at a time (CPU), or engine.torch_fbank batched on the
# instance's device (GPU targets' default: the CPU front end would cap a GPU far below CAM++'s speed).
FRONT_ENDS = ("kaldi", "torch")
# CAM++'s names (the default family), for callers that predate model families.
FEATURES_MODEL = CAMPPLUS.features_model
EMBEDDING_MODEL = CAMPPLUS.embedding_model
MANIFEST = "manifest.json"

_SHIM = '''"""Triton entry point. The implementation lives in {module} (importable and tested outside Triton)."""
import os
import sys

# Triton's python stub starts an isolated interpreter: the launcher passes the project's import paths here.
_paths = os.environ.get("VOIMID_PYTHONPATH", os.environ.get("VOMID_PYTHONPATH", ""))
sys.path[:0] = [p for p in _paths.split(os.pathsep) if p and p not in sys.path]

from {module} import TritonPythonModel  # noqa: E402,F401
'''
_CODE = {  # model name, or (model name, front end) where that differs -> the engine module implementing it
    CAMPPLUS.features_model: "engine.triton_models.fbank_model",
    (CAMPPLUS.features_model, "torch"): "engine.triton_models.torch_fbank_model",
    CAMPPLUS.embedding_model: "engine.triton_models.campplus_model",
    GE2E.features_model: "engine.triton_models.ge2e_features_model",
    GE2E.embedding_model: "engine.triton_models.ge2e_model",
}


@dataclass
class RepositoryOptions:
    target: str = "cpu"
    max_batch_size: int = 64
    # None: 0 on cpu, where queued requests batch anyway and waiting only adds latency (bench_router at half load,
    # two interleaved pairs of runs: p50 55 and 61 ms at 0 against 65 and 64 at 2000 us, saturation within noise);
    # 2000 on GPU targets, unmeasured there, where a larger batch costs little more than a small one.
    max_queue_delay_us: int | None = None
    # The features models handle a batch one request at a time, so waiting for batch-mates only adds latency
    # (bench_router at half load: ~2 ms of ~4.6 ms queueing); requests already queued are still taken together.
    features_queue_delay_us: int = 0
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
    front_end: str = ""  # FRONT_ENDS; empty: torch on the GPU targets, kaldi on cpu

    @property
    def fbank(self) -> str:
        return self.front_end or ("kaldi" if self.target == "cpu" else "torch")

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.max_queue_delay_us is None:
            self.max_queue_delay_us = 0 if self.target == "cpu" else 2000
        if self.front_end and self.front_end not in FRONT_ENDS:
            raise ValueError(f"front_end must be one of {FRONT_ENDS}, got {self.front_end!r}")
        for name in ("max_batch_size", "feature_instances", "embedding_instances", "max_batch_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_queue_delay_us < 0 or self.features_queue_delay_us < 0:
            raise ValueError("max_queue_delay_us and features_queue_delay_us must be >= 0")
        if self.max_queue_size < 1:
            raise ValueError("max_queue_size must be >= 1")


@dataclass
class Manifest:
    embedding_dim: int
    source: str
    random_weights: bool
    target: str
    model_sha256: str  # of the served graph (model.onnx / model.plan)
    parity_cosines: list[float]
    model_name: str = CAMPPLUS.name
    weights_sha256: str = ""  # of the weights the graph came from; with model_name, what voiceprints are tagged with
    recommended_threshold: float | None = None
    threshold_source: str = ""  # how the threshold was obtained (calibration run, or which documented constant)
    precision: str = "fp32"  # of the served graph; int8 embeddings stay comparable with fp32 ones (int8_cosines)
    int8_cosines: list[float] = field(default_factory=list)  # int8 vs fp32 per held-out utterance of real speech
    torchscript_cosines: list[float] = field(default_factory=list)  # target libtorch: the trace vs eager PyTorch

    @property
    def model_id(self) -> str:
        return model_id(self.model_name, self.weights_sha256 or self.model_sha256)

    def as_dict(self) -> dict:
        return asdict(self) | {"model_id": self.model_id}

    def parameters(self) -> dict[str, str]:
        """The ensemble config's `parameters`: what clients read to learn which model answers.

        Empty values are left out: Triton's JSON view of a config drops empty strings' `string_value` anyway.
        """
        threshold = "" if self.recommended_threshold is None else f"{self.recommended_threshold:.4f}"
        params = {"embedding_dim": str(self.embedding_dim), "random_weights": str(self.random_weights).lower(),
                  "source": self.source, "model_sha256": self.model_sha256, "target": self.target,
                  "model_name": self.model_name, "weights_sha256": self.weights_sha256, "model_id": self.model_id,
                  "recommended_threshold": threshold, "threshold_source": self.threshold_source,
                  "precision": self.precision}
        return {key: value for key, value in params.items() if value}


def write_repository(root: Path, model_file: Path, manifest: Manifest, options: RepositoryOptions) -> Path:
    """Replaces `root`'s models; `model_file` is model.onnx (cpu/onnx-gpu), model.plan (tensorrt) or model.pt
    (libtorch)."""
    models = family(manifest.model_name)
    root.mkdir(parents=True, exist_ok=True)
    every_model = {name for f in FAMILIES.values() for name in (f.features_model, f.embedding_model)}
    for name in every_model | {ENSEMBLE_MODEL}:
        shutil.rmtree(root / name, ignore_errors=True)
    for name in (models.features_model, models.embedding_model, ENSEMBLE_MODEL):
        (root / name / "1").mkdir(parents=True)

    _write(root / models.features_model / "config.pbtxt",
           configs.features_config(models, options, features_parameters(models.name, options)))
    features_code = _CODE.get((models.features_model, options.fbank), _CODE[models.features_model])
    _write(root / models.features_model / "1" / "model.py", _SHIM.format(module=features_code))

    _write(root / models.embedding_model / "config.pbtxt",
           configs.embedding_config(models, options, manifest.embedding_dim))
    target_name = configs.DENSE_PLATFORMS.get(options.target, ("python", "model.onnx"))[1]
    shutil.copyfile(model_file, root / models.embedding_model / "1" / target_name)
    if options.target == "cpu":
        _write(root / models.embedding_model / "1" / "model.py", _SHIM.format(module=_CODE[models.embedding_model]))

    _write(root / ENSEMBLE_MODEL / "config.pbtxt",
           configs.ensemble_config(models, options, manifest.embedding_dim, manifest.parameters()))
    _write(root / ENSEMBLE_MODEL / MANIFEST, json.dumps(manifest.as_dict(), indent=2) + "\n")
    return root


def features_parameters(model_name: str, options: RepositoryOptions) -> dict[str, str]:
    if model_name == GE2E.name:
        return Ge2eConfig().as_params()
    return FbankConfig().as_params() | {"min_frames": str(options.min_frames), "front_end": options.fbank}


def read_manifest(root: Path) -> Manifest:
    """The manifest of a repository; manifests written before model families read as CAM++."""
    known = {f.name for f in fields(Manifest)}
    data = json.loads((root / ENSEMBLE_MODEL / MANIFEST).read_text())
    return Manifest(**{k: v for k, v in data.items() if k in known})


def features_config(options: RepositoryOptions) -> str:
    """CAM++'s features model config (the default family)."""
    return configs.features_config(CAMPPLUS, options, features_parameters(CAMPPLUS.name, options))


def embedding_config(options: RepositoryOptions, embedding_dim: int) -> str:
    """CAM++'s embedding model config (the default family)."""
    return configs.embedding_config(CAMPPLUS, options, embedding_dim)


def _write(path: Path, text: str) -> None:
    path.write_text(text)
