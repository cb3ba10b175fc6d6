"""The CAM++ network from the upstream 3D-Speaker package, loaded strictly from a checkpoint."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from speakerlab.models.campplus.DTDNN import CAMPPlus

from tools.export.errors import CheckpointError

log = logging.getLogger(__name__)

FEAT_DIM = 80
# The last layer's weight is (embedding_size, 2 * channels, 1): the embedding size lives in the checkpoint.
EMBEDDING_WEIGHT = "xvector.dense.linear.weight"
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")


def build_campplus(embedding_size: int) -> torch.nn.Module:
    # memory_efficient only trades compute for memory in training; inference never uses it.
    return CAMPPlus(feat_dim=FEAT_DIM, embedding_size=embedding_size, memory_efficient=False)


def read_state_dict(path: Path, wrapper_keys: tuple[str, ...] = _WRAPPER_KEYS) -> dict[str, torch.Tensor]:
    """Reads a PyTorch state dict without executing pickled code (unwrapping {"state_dict": ...} and the like)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    for key in wrapper_keys:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and EMBEDDING_WEIGHT not in obj:
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return obj


def embedding_size_of(state_dict: dict[str, torch.Tensor], source: str) -> int:
    weight = state_dict.get(EMBEDDING_WEIGHT)
    if weight is None or weight.ndim != 3:
        raise CheckpointError(f"{source} is not a CAM++ checkpoint: it has no '{EMBEDDING_WEIGHT}' of shape (D, C, 1)")
    return int(weight.shape[0])


def load_campplus(path: Path) -> torch.nn.Module:
    """Builds CAM++ with the checkpoint's embedding size and loads every weight strictly."""
    state_dict = read_state_dict(path)
    model = build_campplus(embedding_size_of(state_dict, str(path)))
    missing, unexpected = _key_mismatch(model, state_dict)
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the CAM++ architecture: "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} has CAM++ keys with wrong shapes: {str(exc)[:500]}") from None
    log.info("loaded CAM++ from %s (embedding size %d)", path, model.xvector.dense.linear.out_channels)
    return model.eval()


def random_campplus(embedding_size: int, seed: int) -> torch.nn.Module:
    """An untrained CAM++ for tests and demos; deterministic for a given seed.

    Freshly initialised batch-norm statistics make every input map to nearly the same embedding (cosine > 0.999),
    which would make parity tests meaningless. Calibrating the statistics on seeded random features, as a
    training pass would, spreads the embeddings out like a real model's.
    """
    torch.manual_seed(seed)
    model = build_campplus(embedding_size)
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for frames in (150, 300, 600):
            feats = torch.randn(16, frames, FEAT_DIM, generator=generator) * 3.0
            model(feats - feats.mean(dim=1, keepdim=True))
    return model.eval()


def embedding_size_of_model(model: torch.nn.Module) -> int:
    return int(model.xvector.dense.linear.out_channels)


def _key_mismatch(model: torch.nn.Module, state_dict: dict) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict())
    given = set(state_dict)
    return sorted(expected - given), sorted(given - expected)
