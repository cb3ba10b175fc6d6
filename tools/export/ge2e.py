"""The GE2E d-vector network of Resemblyzer (Apache-2.0), its weights from the installed wheel, and its ONNX export.

The weights file is read directly from the installed package: `import resemblyzer` pulls in librosa and webrtcvad
(whose 2.0.10 wrapper needs pkg_resources), none of which the export of the network needs. The network is
VoiceEncoder's: 3-layer LSTM (40 -> 256) -> last hidden state -> linear 256 -> ReLU -> L2 norm, one partial window
(160 mel frames) per batch row. Averaging the windows of an utterance is engine.ge2e_embedder's job.
"""
from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import torch

from engine.contract import EMBEDDING, GE2E
from tools.export.campplus import read_state_dict
from tools.export.errors import CheckpointError, WeightsUnavailable

log = logging.getLogger(__name__)

MEL_BINS = 40
HIDDEN = 256
EMBEDDING_DIM = 256
LAYERS = 3
PARTIAL_FRAMES = 160
OPSET = 17
# Resemblyzer 0.1.4's pretrained.pt: a different file still exports, but the self-check decides whether it is usable.
KNOWN_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
_TRAINING_ONLY = {"similarity_weight", "similarity_bias"}  # GE2E loss parameters, unused at inference
_EPS = 1e-12


class Ge2eNetwork(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(MEL_BINS, HIDDEN, LAYERS, batch_first=True)
        self.linear = torch.nn.Linear(HIDDEN, EMBEDDING_DIM)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        # Resemblyzer divides by the norm alone; the floor only keeps an all-zero ReLU output from becoming NaN.
        return raw / torch.clamp(torch.norm(raw, dim=1, keepdim=True), min=_EPS)


def packaged_weights() -> Path:
    """resemblyzer/pretrained.pt of the installed Resemblyzer wheel, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable("the Resemblyzer package is not installed (pip install 'edge-vomid[export]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise WeightsUnavailable(f"the installed Resemblyzer package has no weights file {path}")
    return path


def load_ge2e(path: Path) -> Ge2eNetwork:
    """Loads every network weight strictly; only the GE2E loss's own two scalars may be left over."""
    state = read_state_dict(path, wrapper_keys=("model_state",))
    model = Ge2eNetwork()
    expected, given = set(model.state_dict()), set(state)
    missing, unexpected = sorted(expected - given), sorted(given - expected - _TRAINING_ONLY)
    if missing or unexpected:
        raise CheckpointError(f"{path} is not a GE2E encoder checkpoint: {len(missing)} missing keys {missing[:5]}, "
                              f"{len(unexpected)} unexpected keys {unexpected[:5]}")
    try:
        model.load_state_dict({k: state[k] for k in expected}, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} has GE2E keys with wrong shapes: {str(exc)[:500]}") from None
    return model.eval()


def export_onnx(model: Ge2eNetwork, path: Path) -> None:
    """(N, T, 40) mel windows -> (N, 256) unit embeddings, dynamic N and T."""
    dummy = torch.rand(2, PARTIAL_FRAMES, MEL_BINS)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter warns that LSTM batch_first export is shape-specialised
        torch.onnx.export(model.eval(), (dummy,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[GE2E.features_tensor], output_names=[EMBEDDING],
                          dynamic_axes={GE2E.features_tensor: {0: "windows", 1: "frames"}, EMBEDDING: {0: "windows"}})
    log.info("exported the GE2E network to %s", path)
