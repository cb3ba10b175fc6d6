"""python -m loadtest.bench_score at a tiny size: `vomid score`'s embedding stage against in-process onnxruntime, with
the interleaved rounds and the machine facts every ratio is read with."""
from __future__ import annotations

import json

from loadtest import bench_score
from tests.shared_data import utterances


def test_tiny_run_reports_an_interleaved_ratio(model_repository, tmp_path, capsys):
    utterances()  # skips when ../shared/audio is absent
    out = tmp_path / "score.json"
    assert bench_score.main(["--repository", str(model_repository), "--limit", "4", "--concurrency", "2",
                             "--repeat", "1", "--rounds", "3", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    interleaved = report["interleaved_score_vs_onnxruntime"]
    assert len(interleaved["rounds"]) == 3 and all(r > 0 for r in interleaved["rounds"])
    assert interleaved["min"] <= interleaved["median"] <= interleaved["max"]
    assert interleaved["unsteady"] == (interleaved["spread"] > 0.05)
    assert report["min_cosine_score_vs_onnxruntime"] > 0.9999  # both paths embed the same audio alike
    assert report["machine"]["cpu"] and "loadavg_before" in report["machine"]
    assert "interleaved rounds" in capsys.readouterr().out
