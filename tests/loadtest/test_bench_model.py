"""python -m loadtest.bench_model at a tiny size against the test repository: every path is measured, and the
Triton / onnxruntime ratio comes from interleaved rounds with its spread."""
from __future__ import annotations

import json

from loadtest import bench_model
from loadtest.report import interleaved_ratios, ratio_summary


def test_tiny_run_interleaves_the_compared_paths(model_repository, tmp_path):
    out = tmp_path / "model.json"
    assert bench_model.main(["--repository", str(model_repository), "--clips", "4", "--concurrency", "1", "2",
                             "--rounds", "2", "--skip-torch", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["cpus"] >= 1 and "loadavg_before" in report["machine"]
    for kind in ("3s", "mixed"):
        rows = report["campplus"][kind]
        for path in ("onnxruntime_b1", "onnxruntime_b16", "triton_grpc_c1", "triton_grpc_c2"):
            assert rows[path]["utt_per_s"] > 0
        interleaved = rows["interleaved"]
        assert len(interleaved["rounds"]) == 2 and interleaved["triton_concurrency"] in (1, 2)
        assert interleaved["min"] <= interleaved["median"] <= interleaved["max"]


def test_int8_is_measured_beside_fp32_with_its_self_check(model_repository, int8_repository, tmp_path):
    out = tmp_path / "model.json"
    assert bench_model.main(["--repository", str(model_repository), "--int8-repository", str(int8_repository),
                             "--clips", "4", "--concurrency", "2", "--rounds", "2", "--skip-torch",
                             "--json", str(out)]) == 0
    report = json.loads(out.read_text())["campplus_int8"]
    assert report["self_check_cosines"]["count"] >= 4 and report["self_check_cosines"]["random_weights"] is True
    for kind in ("3s", "mixed"):
        assert report[kind]["rows"]["triton_grpc_c2"]["utt_per_s"] > 0
        assert report[kind]["triton_best_int8_vs_fp32"] > 0
        assert len(report[kind]["onnxruntime_b16_int8_vs_fp32"]["rounds"]) == 2


def test_interleaved_ratios_alternate_the_order():
    calls = []

    def path(name, speed):
        return lambda: calls.append(name) or speed

    assert interleaved_ratios(path("a", 3.0), path("b", 2.0), 3) == [1.5, 1.5, 1.5]
    assert calls == ["a", "b", "b", "a", "a", "b"]


def test_ratio_summary_flags_a_drifting_machine():
    steady = ratio_summary([1.00, 1.02, 0.99, 1.01, 1.00])
    assert steady["median"] == 1.00 and not steady["unsteady"] and abs(steady["spread"] - 0.02) < 1e-9
    drifting = ratio_summary([1.0, 1.2, 0.8, 1.0])
    assert drifting["median"] == 1.0 and drifting["unsteady"] and (drifting["min"], drifting["max"]) == (0.8, 1.2)
