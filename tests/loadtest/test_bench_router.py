"""python -m loadtest.bench_router at a tiny size: REST against onnxruntime, and where a request's time goes at half
load (router histograms and Triton statistics), stage by stage, each stage inside the one around it."""
from __future__ import annotations

import json
import math

from loadtest import bench_router

TOLERANCE_MS = 0.5


def test_tiny_run_breaks_half_load_latency_down(model_repository, tmp_path):
    out = tmp_path / "router.json"
    assert bench_router.main(["--repository", str(model_repository), "--clips", "4", "--concurrency", "2",
                              "--seconds", "2", "--half-load-seconds", "3", "--ort-passes", "1",
                              "--rounds", "2", "--round-seconds", "1", "--round-passes", "1",
                              "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    interleaved = report["interleaved_rest_vs_onnxruntime"]
    assert len(interleaved["rounds"]) == 2 and interleaved["min"] <= interleaved["median"] <= interleaved["max"]
    assert report["machine"]["cpu"] and "loadavg_before" in report["machine"]
    stages = {name.strip(): ms for name, ms in report["half_load_breakdown_ms"].items()}
    assert all(math.isfinite(ms) for ms in stages.values()), stages
    for part in ("fbank compute", "embedding compute", "decode + resample"):
        assert stages[part] > 0, stages
    # Each stage happens inside the one around it. The means come from different processes' counters read at
    # slightly different moments (a request finishing in between counts on one side only), so a gap may dip just
    # below zero (CI once saw -0.02 ms), never by the size of a stage: a unit or a nesting error would.
    nested = ["client end to end", "router total (verify)", "Triton round trip", "Triton ensemble"]
    for outer, inner in zip(nested, nested[1:]):
        assert stages[outer] >= stages[inner] - TOLERANCE_MS and stages[inner] > 0, stages
    for gap in ("client <-> router (HTTP, event loops)", "body, auth, scoring, reply",
                "gRPC, balancer (outside Triton)", "ensemble scheduling"):
        assert stages[gap] >= -TOLERANCE_MS, stages
    targets = report["half_load_targets"]
    assert targets["p50_target_ms"] == targets["compute_ms"] + 10 and targets["p50_ms"] <= targets["p99_ms"]
