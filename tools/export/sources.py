"""Where CAM++ weights come from: a ModelScope id, a snapshot directory, a checkpoint file, an ONNX file."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import settings.env
from tools.export.errors import CheckpointError, WeightsUnavailable

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "iic/speech_campplus_sv_zh-cn_3dspeaker_16k"
CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    kind: str  # "checkpoint" | "onnx"
    description: str  # for the manifest and logs: where it came from


def classify_file(path: Path, description: str | None = None) -> WeightsFile:
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return WeightsFile(path, "onnx", description or f"onnx:{path}")
    if suffix in CHECKPOINT_SUFFIXES:
        return WeightsFile(path, "checkpoint", description or f"checkpoint:{path}")
    raise CheckpointError(f"{path}: expected a .onnx file or a PyTorch checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})")


def from_snapshot_dir(directory: Path, description: str | None = None) -> WeightsFile:
    """A ModelScope snapshot: configuration.json names the weights file (`model.pretrained_model`)."""
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a directory")
    description = description or f"dir:{directory}"
    config_path = directory / "configuration.json"
    if config_path.exists():
        try:
            named = json.loads(config_path.read_text()).get("model", {}).get("pretrained_model")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise CheckpointError(f"{config_path} is not valid ModelScope configuration JSON: {exc}") from None
        if named:
            return classify_file(directory / named, description)
    candidates = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".onnx", *CHECKPOINT_SUFFIXES))
    if not candidates:
        raise WeightsUnavailable(f"{directory} holds no CAM++ weights (*.bin, *.pt, *.onnx)")
    return classify_file(candidates[0], description)


def from_path(path: Path) -> WeightsFile:
    return from_snapshot_dir(path) if path.is_dir() else classify_file(path)


def from_modelscope(model_id: str, cache_dir: Path, revision: str | None = None, offline: bool = False) -> WeightsFile:
    """Downloads (or finds in `cache_dir`) a ModelScope snapshot through modelscope's own snapshot API."""
    try:
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError:
        raise WeightsUnavailable("the modelscope package is not installed (pip install 'edge-vomid[export]')") from None
    log.info("fetching %s from ModelScope into %s%s", model_id, cache_dir, " (offline)" if offline else "")
    try:
        directory = snapshot_download(model_id, revision=revision, cache_dir=str(cache_dir),
                                      local_files_only=offline)
    except Exception as exc:  # modelscope raises network, cache and HTTP errors of many types
        mode = "not in the local cache" if offline else "could not be downloaded"
        raise WeightsUnavailable(f"ModelScope model {model_id} {mode} ({type(exc).__name__}: {str(exc)[:200]})") from None
    return from_snapshot_dir(Path(directory), f"modelscope:{model_id}")


def from_environment() -> WeightsFile | None:
    value = settings.env.variable("MODEL_PATH")
    return from_path(Path(value)) if value else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
