"""int8 CAM++ (`--precision int8`): static QDQ quantisation calibrated on real speech, refused when it strays.

A random-weight CAM++ is chaotic (1 % noise on its input fbank already moves its embedding to cosine ~0.95), so its
int8 graph misses the 0.99 target: that is the refusal case. The acceptance case is a small trained-like network
whose int8 rounding stays small; the served case is the random CAM++ written anyway because it is random.
"""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
import torch
import tritonclient.grpc as grpcclient

from engine.contract import CAMPPLUS
from engine.local_pipeline import LocalPipeline
from tools.export import cli, onnx_export, quantize
from tools.export.errors import ExportError
from tools.export.pipeline import ExportRequest, run_export
from tools.export.real_speech import speech_of_lengths
from tools.export.repository import EMBEDDING_MODEL, ENSEMBLE_MODEL, RepositoryOptions, read_manifest


class SmallSpeakerNet(torch.nn.Module):
    """Two convolutions and statistics pooling: shallow enough that int8 rounding does not compound."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = torch.nn.Sequential(torch.nn.Conv1d(80, 128, 5), torch.nn.ReLU(), torch.nn.Conv1d(128, 128, 3),
                                        torch.nn.ReLU())
        self.head = torch.nn.Linear(256, 64)

    def forward(self, fbank):
        hidden = self.conv(fbank.transpose(1, 2))
        return self.head(torch.cat([hidden.mean(dim=2), hidden.std(dim=2)], dim=1))


def _graph_ops(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_a_well_conditioned_network_is_quantised_within_the_target(tmp_path):
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx_export.export_torch(SmallSpeakerNet().eval(), fp32)
    cosines = quantize.export_int8(fp32, int8, enforce=True)
    _, held_out, _ = quantize.speech_sets()
    assert len(cosines) == len(held_out) >= 4
    assert min(cosines) >= quantize.MIN_COSINE and max(cosines) < 1.0  # close, yet really quantised
    assert {"QuantizeLinear", "DequantizeLinear"} <= _graph_ops(int8)
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size  # weights stored as int8


def test_an_onnx_file_whose_int8_strays_is_not_exported(model_repository, tmp_path, capsys):
    # A file given with --onnx may be real weights: the target is enforced, and no repository is written.
    fp32 = model_repository / EMBEDDING_MODEL / "1" / "model.onnx"
    output = tmp_path / "repo"
    assert cli.main(["--onnx", str(fp32), "--precision", "int8", "--no-calibrate", "--no-vad",
                     "--output", str(output)]) == 2
    assert re.search(r"int8 graph differs from fp32 on real speech: cosine min 0\.\d+.*--precision fp32",
                     capsys.readouterr().err)
    assert not (output / ENSEMBLE_MODEL).exists()


@pytest.mark.parametrize("request_kwargs, reason", [
    ({"repository": RepositoryOptions(target="tensorrt")}, "--fp16"),
    ({"model": "ge2e"}, r"CAM\+\+ only"),
    ({"precision": "int4"}, "precision must be one of"),
])
def test_int8_is_refused_where_it_does_not_apply(tmp_path, request_kwargs, reason):
    request = ExportRequest(output=tmp_path / "repo", random_weights=True, **({"precision": "int8"} | request_kwargs))
    with pytest.raises(ExportError, match=reason):
        run_export(request)
    assert not (tmp_path / "repo").exists()  # refused before any work


def test_random_weights_int8_is_written_with_its_cosines_and_served(int8_repository, model_repository,
                                                                    triton_factory):
    manifest = read_manifest(int8_repository)
    assert manifest.precision == "int8" and manifest.random_weights
    assert len(manifest.int8_cosines) >= 4 and min(manifest.int8_cosines) < quantize.MIN_COSINE  # recorded, not hidden
    config = (int8_repository / ENSEMBLE_MODEL / "config.pbtxt").read_text()
    assert 'key: "precision"' in config and 'string_value: "int8"' in config
    assert json.loads((int8_repository / ENSEMBLE_MODEL / "manifest.json").read_text())["precision"] == "int8"

    server = triton_factory(int8_repository, name="triton-int8")
    wave = speech_of_lengths((3,))[0]
    batch = grpcclient.InferInput("waveform", [1, len(wave)], "FP32")
    batch.set_data_from_numpy(wave[None].astype(np.float32))
    served = grpcclient.InferenceServerClient(server.grpc_url).infer(ENSEMBLE_MODEL, [batch]).as_numpy("embedding")[0]
    int8_local = LocalPipeline(CAMPPLUS.name, int8_repository / EMBEDDING_MODEL / "1" / "model.onnx").embed(wave)
    fp32_local = LocalPipeline(CAMPPLUS.name, model_repository / EMBEDDING_MODEL / "1" / "model.onnx").embed(wave)
    assert float(served @ int8_local) > 0.9999  # Triton serves the int8 graph...
    assert float(served @ fp32_local) < 0.999  # ...not the fp32 one
