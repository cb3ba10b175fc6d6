"""The CAM++ export's self-check on real speech: a speech-calibrated network passes, a tampered export fails."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from engine.features import FbankExtractor
from tools.export import onnx_export
from tools.export.campplus import build_campplus
from tools.export.errors import ParityError
from tools.export.pipeline import ExportRequest, run_export
from tools.export.repository import EMBEDDING_MODEL
from tools.export.real_speech import load_speech, speech_of_lengths


def speech_calibrated_campplus(seed: int = 3) -> torch.nn.Module:
    """A random CAM++ whose batch-norm statistics come from fbank of real speech, as training would leave them.

    Calibrated on Gaussian features (the test fixture's model), BN rescales speech into ranges the network never
    saw; here speech sets the scales, so parity is checked where a trained model operates.
    """
    torch.manual_seed(seed)
    model = build_campplus(192)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average over the calibration batches
    speech, extractor = load_speech(), FbankExtractor()
    chunks = [speech[start:start + 3 * 16000] for start in range(0, len(speech) - 3 * 16000, 8000)]
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(np.stack([extractor(chunk) for chunk in chunks])))
    return model.eval()


@pytest.fixture(scope="module")
def calibrated():
    return speech_calibrated_campplus()


@pytest.fixture(scope="module")
def exported(calibrated, tmp_path_factory):
    """The calibrated network saved as a checkpoint and exported the way an operator would (self-check included)."""
    root = tmp_path_factory.mktemp("speech_bn")
    torch.save(calibrated.state_dict(), root / "campplus_speech_bn.bin")
    manifest = run_export(ExportRequest(output=root / "repo", checkpoint=root / "campplus_speech_bn.bin",
                                        calibrate=False))
    return manifest, root / "repo" / EMBEDDING_MODEL / "1" / "model.onnx"


def test_parity_is_checked_on_real_speech():
    feats = onnx_export.speech_features()
    assert [f.shape[1] for f in feats] == [98, 298, 998, 2998]
    expected = FbankExtractor()(speech_of_lengths((3,))[0])
    assert np.array_equal(feats[1][0], expected)


def test_speech_calibrated_checkpoint_passes_the_self_check(exported):
    manifest, _ = exported
    assert len(manifest.parity_cosines) == 4 and min(manifest.parity_cosines) >= onnx_export.MIN_COSINE
    assert manifest.weights_sha256 and manifest.model_id.startswith("campplus:")
    assert manifest.recommended_threshold == 0.31  # the 192-dim (16k-common) card, calibration off


def test_one_perturbed_layer_fails_the_self_check(calibrated, exported, tmp_path):
    """The exported graph passed (above); the same graph with one conv kernel changed by 10 % noise must not."""
    graph = onnx.load(str(exported[1]))
    weights = [t for t in graph.graph.initializer if len(t.dims) == 3]  # conv kernels
    layer = weights[len(weights) // 2]
    values = numpy_helper.to_array(layer).copy()
    values += np.random.default_rng(0).normal(0, 0.1 * values.std(), values.shape).astype(values.dtype)
    layer.CopyFrom(numpy_helper.from_array(values, layer.name))
    path = tmp_path / "tampered.onnx"
    onnx.save(graph, str(path))
    with pytest.raises(ParityError, match="differs from PyTorch"):
        onnx_export.check_parity(calibrated, path)
