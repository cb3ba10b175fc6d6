"""The GPU repository variants (onnx-gpu, tensorrt, libtorch): what is written, and that it fits together.

Their backends are not in the bundled tritonserver, so these check the files as shipped: the TorchScript trace
against eager PyTorch, every config parsed as Triton's ModelConfig, and the ensemble wired to the names each
model really has. The torch front end they use is served for real in tests/engine/test_torch_fbank_serving.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from engine.contract import CAMPPLUS, EMBEDDING, WAVEFORM
from tools.export import cli, configs, onnx_export, torchscript
from tools.export.campplus import random_campplus
from tools.export.errors import ParityError
from tools.export.pipeline import ExportRequest, run_export
from tools.export.repository import ENSEMBLE_MODEL, RepositoryOptions, read_manifest


def parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def small_model():
    return random_campplus(192, seed=5)


@pytest.fixture(scope="module")
def libtorch_repository(small_model, tmp_path_factory):
    checkpoint = tmp_path_factory.mktemp("ckpt") / "campplus.bin"
    torch.save(small_model.state_dict(), checkpoint)
    root = tmp_path_factory.mktemp("libtorch_repository")
    run_export(ExportRequest(output=root, checkpoint=checkpoint, calibrate=False, vad=False,
                             repository=RepositoryOptions(target="libtorch")))
    return root


def test_the_libtorch_variant_serves_the_checked_trace(libtorch_repository, small_model):
    manifest = read_manifest(libtorch_repository)
    assert manifest.target == "libtorch" and manifest.embedding_dim == 192
    assert len(manifest.torchscript_cosines) == len(onnx_export.PARITY_SECONDS)
    assert min(manifest.torchscript_cosines) >= onnx_export.MIN_COSINE
    traced = torch.jit.load(str(libtorch_repository / CAMPPLUS.embedding_model / "1" / "model.pt"))
    with torch.no_grad():
        for feats in onnx_export.speech_features()[:3]:  # lengths other than the traced 3 s, in a batch of 2
            batch = torch.from_numpy(np.concatenate([feats, feats[:, ::-1].copy()]))
            expected = torch.nn.functional.normalize(small_model(batch), dim=-1)
            assert (traced(batch) * expected).sum(dim=-1).min() > 0.9999
            assert (traced(batch)[0] @ traced(batch)[1]) < 0.999  # rows stay distinct: no batch mix-up


def test_the_libtorch_configs_parse_and_the_ensemble_uses_the_models_own_names(libtorch_repository):
    embedding = parse((libtorch_repository / CAMPPLUS.embedding_model / "config.pbtxt").read_text())
    features = parse((libtorch_repository / CAMPPLUS.features_model / "config.pbtxt").read_text())
    ensemble = parse((libtorch_repository / ENSEMBLE_MODEL / "config.pbtxt").read_text())
    assert embedding.platform == "pytorch_libtorch" and embedding.default_model_filename == "model.pt"
    assert [i.name for i in embedding.input] == ["fbank__0"] and [o.name for o in embedding.output] == ["embedding__0"]
    assert embedding.parameters["INFERENCE_MODE"].string_value == "true"
    assert embedding.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    # The GPU front end: torch fbank on the GPU, batching whole Triton batches.
    assert features.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert features.parameters["front_end"].string_value == "torch"
    assert "torch_fbank_model" in (libtorch_repository / CAMPPLUS.features_model / "1" / "model.py").read_text()
    _assert_wired(ensemble, {CAMPPLUS.features_model: features, CAMPPLUS.embedding_model: embedding})


@pytest.mark.parametrize("target", ["cpu", "onnx-gpu", "tensorrt", "libtorch"])
def test_every_target_wires_its_ensemble_to_the_names_its_models_have(target):
    options = RepositoryOptions(target=target)
    models = {CAMPPLUS.features_model: parse(configs.features_config(CAMPPLUS, options, {})),
              CAMPPLUS.embedding_model: parse(configs.embedding_config(CAMPPLUS, options, 512))}
    _assert_wired(parse(configs.ensemble_config(CAMPPLUS, options, 512, {})), models)


def test_a_miswired_ensemble_is_caught():
    """The wiring check itself can fail: a libtorch ensemble with the cpu model names is refused."""
    libtorch, cpu = RepositoryOptions(target="libtorch"), RepositoryOptions(target="cpu")
    models = {CAMPPLUS.features_model: parse(configs.features_config(CAMPPLUS, libtorch, {})),
              CAMPPLUS.embedding_model: parse(configs.embedding_config(CAMPPLUS, libtorch, 512))}
    with pytest.raises(AssertionError):
        _assert_wired(parse(configs.ensemble_config(CAMPPLUS, cpu, 512, {})), models)


def _assert_wired(ensemble: model_config_pb2.ModelConfig, models: dict[str, model_config_pb2.ModelConfig]) -> None:
    """Every step maps only tensors its model declares, and the ensemble's waveform reaches its embedding."""
    produced = {WAVEFORM}
    for step in ensemble.ensemble_scheduling.step:
        model = models[step.model_name]
        assert set(step.input_map) <= {i.name for i in model.input}, step.model_name
        assert set(step.output_map) <= {o.name for o in model.output}, step.model_name
        assert set(step.input_map.values()) <= produced, step.model_name
        produced |= set(step.output_map.values())
    assert EMBEDDING in produced


@pytest.mark.parametrize("flags,message", [
    (["--onnx", "model.onnx", "--target", "libtorch"], "traces the PyTorch model"),
    (["--random-weights", "--target", "libtorch", "--precision", "int8"], "libtorch target serves the fp32"),
    (["--random-weights", "--fp16"], "--fp16 builds a TensorRT engine"),
    (["--model", "ge2e", "--front-end", "torch"], "ge2e has its own front end"),
])
def test_combinations_a_target_lacks_are_refused_before_any_work(tmp_path, capsys, flags, message):
    output = tmp_path / "repo"
    assert cli.main(flags + ["--output", str(output), "--no-calibrate"]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_a_trace_that_hard_codes_a_device_is_refused(tmp_path):
    class PinnedToTheCpu(torch.nn.Module):
        def forward(self, fbank):
            return fbank.mean(dim=1) + torch.ones(fbank.shape[-1], device=fbank.device)

    with pytest.raises(ParityError, match="hard-codes a device"):
        torchscript.export_torchscript(PinnedToTheCpu(), tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_a_trace_that_differs_from_eager_is_refused(tmp_path):
    """Tracing freezes Python control flow: a model that branches on its input is caught by the check."""
    class BranchesOnLength(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.project = torch.nn.Linear(80, 16)

        def forward(self, fbank):
            pooled = fbank.mean(dim=1) if fbank.shape[1] == 298 else fbank.std(dim=1)
            return self.project(pooled)

    with pytest.raises(ParityError, match="differs from PyTorch"):
        torchscript.export_torchscript(BranchesOnLength(), tmp_path / "model.pt")
