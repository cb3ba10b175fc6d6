"""The export tool: every source kind round-trips, strict loading, clear errors, repository configs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from tools.export import cli, onnx_export, onnx_graph, tensorrt
from tools.export.campplus import EMBEDDING_WEIGHT, load_campplus, random_campplus
from tools.export.errors import CheckpointError, ParityError, WeightsUnavailable
from tests.shared_data import SPEAKERS_CSV
from tools.export.pipeline import CARD_THRESHOLDS, ExportRequest, run_export
from tools.export.repository import (EMBEDDING_MODEL, ENSEMBLE_MODEL, FEATURES_MODEL, RepositoryOptions,
                                     embedding_config, read_manifest)

MODEL_ID = "iic/speech_campplus_sv_zh-cn_3dspeaker_16k"


@pytest.fixture(scope="module")
def small_model():
    """A 192-dim CAM++ (the 16k-common size) so the tests also cover embedding-size detection."""
    return random_campplus(192, seed=5)


@pytest.fixture(scope="module")
def checkpoint(small_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "campplus_cn_common.bin"
    torch.save(small_model.state_dict(), path)
    return path


def _served(repo: Path) -> onnx_export.ort.InferenceSession:
    return onnx_export.session(repo / EMBEDDING_MODEL / "1" / "model.onnx")


def _assert_serves(model, repo: Path):
    sess = _served(repo)
    for feats in onnx_export.parity_inputs(seed=99)[:2]:
        with torch.no_grad():
            ref = torch.nn.functional.normalize(model(torch.from_numpy(feats)), dim=-1).numpy()
        got = sess.run(["embedding"], {"fbank": feats})[0]
        assert float((ref * got).sum()) >= 0.9999


def test_checkpoint_round_trip_detects_embedding_size(small_model, checkpoint, tmp_path):
    manifest = run_export(ExportRequest(output=tmp_path, checkpoint=checkpoint))  # calibrates where speech is
    assert manifest.embedding_dim == 192 and not manifest.random_weights
    if SPEAKERS_CSV.exists():
        assert "EER threshold on" in manifest.threshold_source and -1 < manifest.recommended_threshold < 1
    else:
        assert (manifest.recommended_threshold, manifest.threshold_source) == CARD_THRESHOLDS[192]
    assert len(manifest.parity_cosines) == 4 and min(manifest.parity_cosines) >= 0.9999
    assert read_manifest(tmp_path) == manifest
    _assert_serves(small_model, tmp_path)
    assert 'dims: [ 192 ]' in (tmp_path / ENSEMBLE_MODEL / "config.pbtxt").read_text()


def test_modelscope_snapshot_directory(small_model, checkpoint, tmp_path):
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "campplus_cn_common.bin").write_bytes(checkpoint.read_bytes())
    (snapshot / "configuration.json").write_text(json.dumps(
        {"framework": "pytorch", "task": "speaker-verification",
         "model": {"type": "cam++-sv", "pretrained_model": "campplus_cn_common.bin"}}))
    manifest = run_export(ExportRequest(output=tmp_path / "repo", model_dir=snapshot, calibrate=False))
    assert manifest.source == f"dir:{snapshot}"
    _assert_serves(small_model, tmp_path / "repo")


def test_modelscope_id_through_the_snapshot_api(small_model, checkpoint, tmp_path):
    """The real modelscope snapshot_download, answered from its local cache (offline: nothing downloads)."""
    cached = tmp_path / "cache" / MODEL_ID
    cached.mkdir(parents=True)
    (cached / "campplus_cn_3dspeaker.bin").write_bytes(checkpoint.read_bytes())
    (cached / "configuration.json").write_text(json.dumps({"model": {"pretrained_model": "campplus_cn_3dspeaker.bin"}}))
    manifest = run_export(ExportRequest(output=tmp_path / "repo", model_id=MODEL_ID, cache_dir=tmp_path / "cache",
                                        calibrate=False,
                                        offline=True))
    assert manifest.source == f"modelscope:{MODEL_ID}"
    _assert_serves(small_model, tmp_path / "repo")


def test_third_party_onnx_is_standardized(small_model, tmp_path):
    """An ONNX like sherpa-onnx's (input `x`, raw un-normalised output) is renamed and normalised, not re-exported."""
    raw = tmp_path / "third_party.onnx"
    torch.onnx.export(small_model, (torch.randn(1, 200, 80),), str(raw), dynamo=False, opset_version=13,
                      input_names=["x"], output_names=["embedding"],
                      dynamic_axes={"x": {0: "N", 1: "T"}, "embedding": {0: "N"}})
    manifest = run_export(ExportRequest(output=tmp_path / "repo", onnx=raw, calibrate=False))
    assert manifest.embedding_dim == 192 and manifest.parity_cosines == []
    _assert_serves(small_model, tmp_path / "repo")
    served = onnx.load(str(tmp_path / "repo" / EMBEDDING_MODEL / "1" / "model.onnx"))
    assert [i.name for i in served.graph.input] == ["fbank"]
    assert {p.key: p.value for p in served.metadata_props}["vomid_embedding_dim"] == "192"
    # standardizing an already served graph is a no-op
    assert onnx_graph.standardize(served, "served") is served


def test_strict_loading_names_missing_and_unexpected_keys(small_model, tmp_path):
    state = dict(small_model.state_dict())
    del state["head.conv1.weight"]
    state["head.extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"1 missing keys \['head.conv1.weight'\].*1 unexpected keys"):
        load_campplus(path)


def test_wrong_shapes_and_foreign_checkpoints_are_rejected(small_model, tmp_path):
    state = dict(small_model.state_dict())
    state["xvector.tdnn.linear.weight"] = torch.zeros(3, 3, 3)
    torch.save(state, tmp_path / "shapes.pt")
    with pytest.raises(CheckpointError, match="wrong shapes"):
        load_campplus(tmp_path / "shapes.pt")
    torch.save(torch.nn.Linear(4, 2).state_dict(), tmp_path / "linear.pt")
    with pytest.raises(CheckpointError, match=f"not a CAM\\+\\+ checkpoint.*{EMBEDDING_WEIGHT}"):
        load_campplus(tmp_path / "linear.pt")


def test_corrupt_files_give_clear_errors(tmp_path):
    (tmp_path / "corrupt.bin").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_campplus(tmp_path / "corrupt.bin")
    (tmp_path / "corrupt.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(CheckpointError, match="not a valid ONNX model"):
        run_export(ExportRequest(output=tmp_path / "repo", onnx=tmp_path / "corrupt.onnx"))
    (tmp_path / "weights.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="expected a .onnx file or a PyTorch checkpoint"):
        run_export(ExportRequest(output=tmp_path / "repo", checkpoint=tmp_path / "weights.txt"))
    assert not (tmp_path / "repo").exists()  # nothing half-written


def test_parity_check_fails_for_a_different_model(small_model, tmp_path):
    path = tmp_path / "model.onnx"
    onnx_export.export_torch(small_model, path)
    with pytest.raises(ParityError, match="differs from PyTorch"):
        onnx_export.check_parity(random_campplus(192, seed=6), path)


def test_no_weights_offline_lists_every_way_to_supply_them(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VOIMID_MODEL_PATH", raising=False)
    code = cli.main(["--output", str(tmp_path / "repo"), "--offline", "--cache-dir", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert code == 2
    for way in ("--model-id", "--model-dir", "--checkpoint", "--onnx", "VOIMID_MODEL_PATH", "--random-weights"):
        assert way in err
    assert "Traceback" not in err
    with pytest.raises(WeightsUnavailable):
        run_export(ExportRequest(output=tmp_path / "repo", offline=True, cache_dir=tmp_path / "empty"))


def test_model_path_from_environment(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("VOIMID_MODEL_PATH", str(checkpoint))
    assert cli.main(["--output", str(tmp_path / "repo"), "--offline", "--no-calibrate"]) == 0
    assert read_manifest(tmp_path / "repo").source == f"checkpoint:{checkpoint}"


def test_random_weights_are_explicit_and_marked(model_repository):
    manifest = read_manifest(model_repository)
    assert manifest.random_weights and manifest.source.startswith("random-weights")
    ensemble = (model_repository / ENSEMBLE_MODEL / "config.pbtxt").read_text()
    assert 'key: "random_weights" value: { string_value: "true" }' in ensemble


def test_cpu_repository_configs(tmp_path, checkpoint):
    options = RepositoryOptions(max_batch_size=16, max_queue_delay_us=777, feature_instances=3,
                                embedding_instances=2, intra_op_threads=4)
    run_export(ExportRequest(output=tmp_path, checkpoint=checkpoint, repository=options, calibrate=False))
    features = (tmp_path / FEATURES_MODEL / "config.pbtxt").read_text()
    embedding = (tmp_path / EMBEDDING_MODEL / "config.pbtxt").read_text()
    assert 'backend: "python"' in features and "allow_ragged_batch: true" in features
    assert "count: 3" in features and "max_queue_delay_microseconds: 0 " in features  # one by one: no waiting
    assert "max_queue_delay_microseconds: 777" in embedding
    assert 'backend: "python"' in embedding and "count: 2" in embedding and "max_batch_size: 16" in embedding
    assert 'key: "intra_op_threads" value: { string_value: "4" }' in embedding
    assert (tmp_path / EMBEDDING_MODEL / "1" / "model.py").exists()


def test_the_batching_delay_defaults_by_target():
    """On the CPU, queued requests batch anyway and waiting only adds latency: no delay there (README, bench_router)."""
    assert "max_queue_delay_microseconds: 0 " in embedding_config(RepositoryOptions(), 512)
    assert "max_queue_delay_microseconds: 2000 " in embedding_config(RepositoryOptions(target="onnx-gpu"), 512)
    assert "max_queue_delay_microseconds: 300 " in embedding_config(
        RepositoryOptions(target="onnx-gpu", max_queue_delay_us=300), 512)


@pytest.mark.parametrize("target,platform,file_name", [("onnx-gpu", "onnxruntime_onnx", "model.onnx"),
                                                       ("tensorrt", "tensorrt_plan", "model.plan")])
def test_gpu_configs(target, platform, file_name):
    config = embedding_config(RepositoryOptions(target=target, preferred_batch_sizes=[16, 32]), 512)
    assert f'platform: "{platform}"' in config and f'default_model_filename: "{file_name}"' in config
    assert "KIND_GPU" in config and "preferred_batch_size: [ 16, 32 ]" in config
    assert 'name: "fbank"' in config and "dims: [ 512 ]" in config
    assert "allow_ragged_batch" not in config  # dense backends batch equal lengths only


def test_tensorrt_build_needs_a_gpu_toolchain(tmp_path, monkeypatch):
    command = tensorrt.trtexec_command(Path("m.onnx"), Path("m.plan"), tensorrt.Profile(), fp16=True)
    assert "--minShapes=fbank:1x98x80" in command and "--maxShapes=fbank:64x2998x80" in command
    assert "--optShapes=fbank:16x298x80" in command and "--fp16" in command
    if tensorrt.available() is None:
        with pytest.raises(tensorrt.ExportError, match="tensorrt Python package or trtexec"):
            tensorrt.build_plan(tmp_path / "m.onnx", tmp_path / "m.plan")


def test_invalid_repository_options():
    with pytest.raises(ValueError, match="target"):
        RepositoryOptions(target="tpu")
    with pytest.raises(ValueError, match="max_batch_size"):
        RepositoryOptions(max_batch_size=0)


def test_parity_inputs_cover_served_lengths():
    frames = [f.shape[1] for f in onnx_export.parity_inputs()]
    assert frames == [98, 298, 998, 2998]
    assert all(abs(float(f.mean())) < 1e-3 for f in onnx_export.parity_inputs())
    assert np.isfinite(np.concatenate([f.ravel() for f in onnx_export.parity_inputs()])).all()
