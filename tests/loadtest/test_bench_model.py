"""python -m loadtest.bench_model at a tiny size against the test repository: every path is measured, and the
Triton / onnxruntime ratio comes from interleaved rounds with its spread."""
from __future__ import annotations

import json

from loadtest import bench_model
from loadtest.report import ratio_summary


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


def test_ratio_summary_flags_a_drifting_machine():
    steady = ratio_summary([1.00, 1.02, 0.99, 1.01, 1.00])
    assert steady["median"] == 1.00 and not steady["unsteady"] and abs(steady["spread"] - 0.02) < 1e-9
    drifting = ratio_summary([1.0, 1.2, 0.8, 1.0])
    assert drifting["median"] == 1.0 and drifting["unsteady"] and (drifting["min"], drifting["max"]) == (0.8, 1.2)
