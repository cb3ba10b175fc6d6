"""The export writes the Silero `vad` model beside the speaker models (and can leave it out)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from engine.vad import SileroVad
from tools.export.errors import ExportError
from tools.export.repository import RepositoryOptions
from tools.export.vad import ONNX_NAME, VAD_MANIFEST, VAD_MODEL, silero_onnx, vad_config, write_vad_model

pytest.importorskip("silero_vad", reason="silero-vad (the export extra) ships the VAD model")


def test_session_repository_has_a_working_vad_model(model_repository):
    folder = model_repository / VAD_MODEL
    manifest = json.loads((folder / VAD_MANIFEST).read_text())
    onnx_file = folder / "1" / ONNX_NAME
    assert manifest["sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert manifest["source"].startswith("silero-vad==")
    assert "engine.triton_models.vad_model" in (folder / "1" / "model.py").read_text()
    assert SileroVad(onnx_file).probabilities(np.zeros(16000, np.float32)).max() < 0.5


def test_config_declares_the_carry_and_batches():
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(vad_config(RepositoryOptions(max_batch_size=64, max_queue_delay_us=700)),
                               model_config_pb2.ModelConfig())
    assert config.name == VAD_MODEL and config.backend == "python"
    assert config.max_batch_size == 16  # recordings per execute(), not embedding rows
    assert [i.name for i in config.input] == ["waveform", "state", "context"]
    assert [list(i.dims) for i in config.input] == [[-1], [2, 128], [64]]
    assert [o.name for o in config.output] == ["probability", "state_out", "context_out"]
    assert config.dynamic_batching.max_queue_delay_microseconds == 700


def test_write_replaces_and_refuses_a_broken_file(tmp_path):
    write_vad_model(tmp_path, RepositoryOptions())
    (tmp_path / VAD_MODEL / "stale.txt").write_text("old")
    write_vad_model(tmp_path, RepositoryOptions())
    assert not (tmp_path / VAD_MODEL / "stale.txt").exists()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(silero_onnx()[0].read_bytes()[:5000])
    with pytest.raises(ExportError, match="not a usable Silero VAD model"):
        write_vad_model(tmp_path / "other", RepositoryOptions(), onnx_file=broken)
    assert not (tmp_path / "other" / VAD_MODEL).exists()


def test_no_vad_option(tmp_path):
    from tools.export.pipeline import ExportRequest, run_export

    run_export(ExportRequest(output=tmp_path, random_weights=True, embedding_dim=64, vad=False))
    assert (tmp_path / "speaker").is_dir() and not (tmp_path / VAD_MODEL).exists()
