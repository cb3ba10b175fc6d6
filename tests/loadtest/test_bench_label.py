"""python -m loadtest.bench_label with tiny parameters, and the DER bound that needs real CAM++ weights."""
from __future__ import annotations

import json

import pytest

from loadtest import bench_label
from tests.shared_data import AUDIO, real_weights, utterances


def test_bench_runs_both_paths_and_says_what_random_weights_mean(triton, model_repository, tmp_path, capsys):
    utterances()  # skips without ../shared
    out = tmp_path / "label.json"
    assert bench_label.main(["--grpc-url", triton.grpc_url, "--repository", str(model_repository), "--meetings",
                             "1", "--minutes", "0.75", "--speakers", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["random_weights"] is True and "only speech detection" in report["note"]
    assert "NOTE: random-weight" in capsys.readouterr().out
    for path in ("served", "in_process"):
        row = report["rows"][0][path]
        assert row["agreement_100ms"] >= 0.95 and row["missed"] < 0.05 and row["false_alarm"] < 0.05
        assert 0 < row["rtf"] < 5 and report["summary"][path]["minutes_for_1h"] > 0
    # The same pipeline on the same ONNX files: speech detection agrees between the two paths.
    served, local = report["rows"][0]["served"], report["rows"][0]["in_process"]
    assert abs(served["missed"] - local["missed"]) < 0.01 and abs(served["false_alarm"] - local["false_alarm"]) < 0.01


@pytest.mark.slow
def test_der_with_real_weights_is_at_most_10_percent(tmp_path):
    weights = real_weights()
    if weights is None:
        pytest.skip("no pretrained CAM++ weights (../shared/models or VOMID_MODEL_PATH): DER of an untrained "
                    "network says nothing about speaker labelling")
    utterances()
    from tools.export.pipeline import ExportRequest, run_export

    repository = tmp_path / "repo"
    kind = {"onnx": "onnx"}.get(weights.suffix.lstrip("."), "checkpoint")
    run_export(ExportRequest(output=repository, **{kind: weights}))
    from vomid.tritonserver import TritonServer

    with TritonServer(repository, name="bench-label-real") as server:
        out = tmp_path / "label.json"
        bench_label.main(["--grpc-url", server.grpc_url, "--repository", str(repository), "--audio", str(AUDIO),
                          "--meetings", "3", "--minutes", "5", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["random_weights"] is False
    for path in ("served", "in_process"):
        assert report["summary"][path]["der"] <= 0.10, report["summary"][path]
