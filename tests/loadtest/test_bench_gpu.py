"""loadtest/bench_gpu.py on the CPU at a tiny size, so the script a lent GPU machine runs cannot rot unnoticed:
its fp32 path (torch fbank + CAM++) gives the reference path's embeddings, and what cannot run here is said."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
from loadtest import bench_gpu  # noqa: E402  (needs torch)


def test_tiny_cpu_run(tmp_path):
    out = tmp_path / "gpu.json"
    assert bench_gpu.main(["--device", "cpu", "--batches", "1", "3", "--modes", "eager-fp32", "graphs-fp16",
                           "--seconds", "1", "--min-time-s", "0.05", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [(r["mode"], r["batch"]) for r in report["rows"]] == [("eager-fp32", 1), ("eager-fp32", 3)]
    for row in report["rows"]:
        assert row["utt_per_s"] > 0 and row["front_utt_per_s"] > 0 and row["model_utt_per_s"] > 0
        assert row["min_cosine_vs_cpu_fp32"] >= 0.9999   # same network, kaldi-compatible torch front end
    assert report["skipped"] == ["graphs-fp16: CUDA graphs need a CUDA device"]
    assert report["best"]["mode"] == "eager-fp32" and report["device"] == "cpu"
