"""The GE2E export: packaged weights, self-check against Resemblyzer, manifest, configs, clear refusals."""
from __future__ import annotations

import re
import shutil

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from onnx import numpy_helper
from tritonclient.grpc import model_config_pb2

from engine.contract import CAMPPLUS, ENSEMBLE_MODEL, GE2E
from tools.export import calibration, cli, ge2e, ge2e_check
from tools.export.errors import CheckpointError, ParityError
from tools.export.ge2e_pipeline import GE2E_THRESHOLD
from tools.export.vad import VAD_MODEL
from tools.export.repository import Manifest, RepositoryOptions, read_manifest, write_repository
from tools.export.sources import sha256_file

pytest.importorskip("torch", reason="PyTorch (the export extra) is needed to export GE2E")


def parse_config(path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_manifest_names_model_weights_and_threshold(ge2e_repository):
    manifest = read_manifest(ge2e_repository)
    assert manifest.model_name == "ge2e" and manifest.embedding_dim == 256 and not manifest.random_weights
    assert manifest.weights_sha256 == ge2e.KNOWN_SHA256 == sha256_file(ge2e.packaged_weights())
    assert manifest.model_id == f"ge2e:{ge2e.KNOWN_SHA256}"
    assert len(manifest.parity_cosines) == 4 and min(manifest.parity_cosines) >= 0.9999
    assert 0.5 < manifest.recommended_threshold < 0.9 and manifest.threshold_source


def test_generated_configs_parse_with_the_contract_names(ge2e_repository):
    features = parse_config(ge2e_repository / GE2E.features_model / "config.pbtxt")
    embedding = parse_config(ge2e_repository / GE2E.embedding_model / "config.pbtxt")
    ensemble = parse_config(ge2e_repository / ENSEMBLE_MODEL / "config.pbtxt")
    assert [o.name for o in features.output] == [GE2E.features_tensor, GE2E.partials_tensor]
    assert list(features.output[0].dims) == [-1, 160, 40] and features.input[0].allow_ragged_batch
    assert [i.name for i in embedding.input] == [GE2E.features_tensor, GE2E.partials_tensor]
    assert embedding.input[0].allow_ragged_batch and embedding.dynamic_batching.preferred_batch_size
    assert list(embedding.output[0].dims) == [256]
    assert [s.model_name for s in ensemble.ensemble_scheduling.step] == [GE2E.features_model, GE2E.embedding_model]
    assert ensemble.parameters["model_name"].string_value == "ge2e"
    assert not (ge2e_repository / CAMPPLUS.features_model).exists()


def test_campplus_configs_parse_too(model_repository):
    ensemble = parse_config(model_repository / ENSEMBLE_MODEL / "config.pbtxt")
    assert [s.model_name for s in ensemble.ensemble_scheduling.step] == ["fbank", "campplus"]
    assert ensemble.parameters["model_name"].string_value == "campplus"
    assert parse_config(model_repository / "campplus" / "config.pbtxt").input[0].name == "fbank"


def test_switching_family_removes_the_other_models(ge2e_repository, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ge2e_repository, root)
    manifest = Manifest(embedding_dim=192, source="test", random_weights=True, target="cpu", model_sha256="0" * 64,
                        parity_cosines=[])
    write_repository(root, ge2e_repository / GE2E.embedding_model / "1" / "model.onnx", manifest, RepositoryOptions())
    assert sorted(p.name for p in root.iterdir()) == sorted([CAMPPLUS.features_model, CAMPPLUS.embedding_model,
                                                            ENSEMBLE_MODEL, VAD_MODEL])  # the VAD serves both
    assert read_manifest(root).model_name == "campplus"


def test_a_perturbed_export_fails_the_self_check(ge2e_repository, tmp_path):
    """One LSTM weight matrix changed after export: the check against Resemblyzer must notice."""
    graph = onnx.load(str(ge2e_repository / GE2E.embedding_model / "1" / "model.onnx"))
    largest = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(largest).copy()
    values += np.random.default_rng(0).normal(0, 0.05, values.shape).astype(values.dtype)
    largest.CopyFrom(numpy_helper.from_array(values, largest.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(graph, str(broken))
    with pytest.raises(ParityError, match="differs from Resemblyzer"):
        ge2e_check.check_against_resemblyzer(broken, ge2e.packaged_weights())


def test_foreign_checkpoint_is_refused(tmp_path):
    import torch

    torch.save({"model_state": {"lstm.weight_ih_l0": torch.zeros(3)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a GE2E encoder checkpoint"):
        ge2e.load_ge2e(tmp_path / "other.pt")


@pytest.mark.parametrize("flags,message", [(["--target", "tensorrt"], "cpu target only"),
                                           (["--random-weights"], "--random-weights is for CAM\\+\\+")])
def test_unsupported_combinations_exit_2(tmp_path, capsys, flags, message):
    assert cli.main(["--model", "ge2e", "--output", str(tmp_path / "repo"), *flags]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "repo").exists()


def test_threshold_falls_back_to_the_documented_constant(tmp_path, monkeypatch):
    monkeypatch.setenv("VOIMID_SHARED", str(tmp_path / "nothing"))
    threshold, how = calibration.recommended_threshold(lambda wave: np.ones(2), GE2E_THRESHOLD, "documented")
    assert (threshold, how) == (GE2E_THRESHOLD, "documented")


def test_calibration_finds_the_separating_threshold(tmp_path, monkeypatch):
    """Two speakers whose embeddings sit at known cosines: the EER threshold lands between the score groups."""
    wave = np.zeros(16000, np.float32)
    clips = [(wave + i, speaker) for i, speaker in enumerate("aabb")]
    vectors = {0: [1, 0], 1: [0.96, 0.28], 2: [0, 1], 3: [0.28, 0.96]}
    result = calibration.calibrate(lambda w: np.array(vectors[int(w[0])], float), clips)
    assert result.eer == 0.0 and result.trials == 6 and 0.537 < result.threshold <= 0.96
