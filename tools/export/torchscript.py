"""PyTorch CAM++ -> TorchScript for Triton's `pytorch_libtorch` backend, checked against eager PyTorch.

The trace records the L2-normalised embedding, as the ONNX graph serves it. Traced at one length, it must still
hold at every length and batch served: CAM++'s pooling depends on the time axis, so the check runs real speech at
1-30 s, one at a time and as a batch of equal lengths, and a graph that hard-codes a device (it would not move to
the serving GPU) is refused too.
"""
from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import torch

from tools.export.errors import ParityError
from tools.export.onnx_export import MIN_COSINE, PARITY_SECONDS, speech_features

log = logging.getLogger(__name__)

TRACE_SHAPE = (2, 298, 80)  # 3 s, the commonest request
BATCH_CHECK = 3
_DEVICE_CONSTANT = re.compile(r"Device = prim::Constant\[value=\"[a-z]+")


class NormalisedEmbedding(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.model(fbank), dim=-1)


def export_torchscript(model: torch.nn.Module, path: Path) -> list[float]:
    """Traces `model` to `path` and returns the cosine to eager per checked length (ParityError below MIN_COSINE)."""
    wrapped = NormalisedEmbedding(model.eval()).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python ints are expected here
        traced = torch.jit.trace(wrapped, torch.randn(*TRACE_SHAPE), check_trace=False)
    devices = _DEVICE_CONSTANT.findall(str(traced.inlined_graph))
    if devices:
        raise ParityError(f"the TorchScript trace hard-codes a device ({devices[0]}...): it would not run on the GPU")
    traced.save(str(path))
    return check_torchscript(wrapped, torch.jit.load(str(path)))


def check_torchscript(eager: torch.nn.Module, traced: torch.jit.ScriptModule) -> list[float]:
    cosines, noise = [], torch.Generator().manual_seed(0)
    with torch.no_grad():
        for feats in speech_features():
            batch = torch.from_numpy(feats).repeat(BATCH_CHECK, 1, 1)
            batch[1:] += 0.01 * torch.randn(batch[1:].shape, generator=noise)  # distinct rows: a mix-up would show
            cosines.append(float((eager(batch) * traced(batch)).sum(dim=-1).min()))
    worst = min(cosines)
    log.info("TorchScript vs PyTorch cosine per length %s s (batch %d): %s", PARITY_SECONDS, BATCH_CHECK,
             [round(c, 7) for c in cosines])
    if worst < MIN_COSINE:
        raise ParityError(f"TorchScript trace differs from PyTorch: cosine {worst:.6f} < {MIN_COSINE} "
                          f"(per length {PARITY_SECONDS} s: {cosines})")
    return cosines
