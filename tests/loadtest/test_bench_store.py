"""python -m loadtest.bench_store at a tiny size: the report's figures are measured, and recall is judged against
exact search (a broken index or a wrong expected id would show as recall far below 1)."""
from __future__ import annotations

import json

from loadtest import bench_store


def test_tiny_run_reports_latency_recall_and_memory(tmp_path):
    out = tmp_path / "store.json"
    bench_store.main(["--n", "3000", "--dims", "192", "--queries", "200", "--ef", "16", "200", "--threads", "1",
                      "--out", str(out)])
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["dim"] == 192 and result["n"] == 3000 and result["hnsw_bytes_per_vector"] > 192 * 4
    low, high = result["runs"]
    for row in (low, high):
        for kind in ("genuine", "impostor"):
            assert 0 < row[kind]["p50_ms"] <= row[kind]["p99_ms"]
    assert high["genuine"]["recall_at_1"] >= 0.98   # ef 200 over 3,000 points is close to exact
    assert high["genuine"]["recall_at_1"] >= low["genuine"]["recall_at_1"]
    assert result["genuine_cos_mean"] > result["random_pair_cos_mean"] + 0.3   # genuine queries are near their user
