"""`vomid up --model` and `--precision`: the served model is chosen explicitly, never switched silently."""
from __future__ import annotations

import shutil

import psutil
import pytest

from vomid.__main__ import main


@pytest.fixture
def empty_site(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOIMID_MODEL_PATH", raising=False)
    monkeypatch.delenv("VOIMID_MODEL", raising=False)
    return tmp_path


def test_no_campplus_weights_offers_the_bundled_model(empty_site, capsys):
    assert main(["up", "--offline", "--cache-dir", str(empty_site / "empty")]) == 2
    err = capsys.readouterr().err
    assert "--model ge2e" in err and "ModelScope model" in err and "Traceback" not in err
    assert not (empty_site / "model_repository").exists()  # no silent export of another model


def test_a_repository_of_another_model_is_not_served_under_a_new_name(empty_site, model_repository, capsys):
    shutil.copytree(model_repository, empty_site / "model_repository")
    assert main(["up", "--model", "ge2e"]) == 2
    err = capsys.readouterr().err
    assert "serves the campplus model, not ge2e" in err and "Traceback" not in err


def test_a_repository_of_another_precision_is_not_served_as_int8(empty_site, model_repository, capsys):
    shutil.copytree(model_repository, empty_site / "model_repository")
    assert main(["up", "--precision", "int8"]) == 2
    err = capsys.readouterr().err
    assert "serves campplus in fp32, not int8" in err and "Traceback" not in err


@pytest.mark.parametrize("target", ["onnx-gpu", "tensorrt", "libtorch"])
def test_gpu_targets_are_refused_before_any_export(empty_site, capsys, target):
    assert main(["up", "--random-weights", "--target", target]) == 2
    err = capsys.readouterr().err
    assert f"bundled CPU tritonserver: --target {target}" in err and "Traceback" not in err
    assert not (empty_site / "model_repository").exists()


def test_a_bad_config_fails_before_the_export_and_stops_the_triton_it_overlapped(empty_site, model_repository,
                                                                                capsys):
    bad = empty_site / "bad.yaml"
    bad.write_text("auth:\n  enabled: true\n")  # and no keys file
    assert main(["up", "--random-weights", "--config", str(bad)]) == 2  # first start: refused before exporting
    assert "auth is enabled but no keys are configured" in capsys.readouterr().err
    assert not (empty_site / "model_repository").exists()

    shutil.copytree(model_repository, empty_site / "model_repository")
    assert main(["up", "--config", str(bad)]) == 2  # Triton was launched first, to load while the config is read
    err = capsys.readouterr().err
    assert "auth is enabled but no keys are configured" in err and "Traceback" not in err
    repository = str((empty_site / "model_repository").resolve())
    assert not [p for p in psutil.process_iter(["cmdline"]) if any(repository in a for a in p.info["cmdline"] or [])]


def test_unknown_model_from_the_environment_is_a_clear_error(empty_site, monkeypatch, capsys):
    monkeypatch.setenv("VOIMID_MODEL", "wav2vec")
    assert main(["up", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'wav2vec'" in err and "Traceback" not in err
