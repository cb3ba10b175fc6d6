"""python -m loadtest.bench_store at a tiny size, every library side by side: the report's figures are measured,
recall and decision agreement are judged against exact search (a broken index, a wrong id mapping or a wrong
expected id would show as recall far below 1), and a library that is not installed is reported, not fatal."""
from __future__ import annotations

import json
import sys

import pytest

from loadtest import ann_libraries, bench_store

ARGS = ["--n", "3000", "--dims", "64", "--queries", "200", "--threads", "1",
        "--ef", "8", "200", "--nprobe", "1", "256", "--refine", "40",
        "--threshold", "0.5"]   # at 64 dims exact search accepts about half of the impostors at 0.5
EXPECTED = {"hnswlib", "faiss-hnsw-sq8", "usearch-f16", "usearch-i8", "faiss-ivf"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "store.json"
    bench_store.main([*ARGS, "--out", str(out)])
    return json.loads(out.read_text())


def test_every_library_runs_with_plausible_figures(report):
    (result,) = report["results"]
    assert result["dim"] == 64 and result["n"] == 3000 and result["missing"] == {}
    assert result["genuine_cos_mean"] > result["random_pair_cos_mean"] + 0.3   # genuine queries are near their user
    assert result["random_pair_cos_mean"] < result["threshold"] < result["genuine_cos_mean"]
    runs = result["runs"]
    assert {"faiss-ivf" if r["library"].startswith("faiss-ivf") else r["library"] for r in runs} == EXPECTED
    for r in runs:
        assert r["bytes_per_vector"] > 0 and r["build_s"] > 0
        if r["rescored"]:   # the float rows the re-scoring reads are counted
            assert r["bytes_per_vector"] > 64 * 4
        for kind in ("genuine", "impostor"):
            assert 0 < r[kind]["p50_ms"] <= r[kind]["p99_ms"]
            assert 0 <= r[kind]["recall_at_1"] <= 1 and 0 <= r[kind]["agreement"] <= 1
    # Generous settings (ef 200 over 3,000 points; every IVF list probed, exact re-ranking) are close to exact.
    generous = [r for r in runs if r["setting"] in ("ef=200", "efSearch=200", "expansion_search=200", "nprobe=256")]
    assert len(generous) == 5
    for r in generous:
        assert r["genuine"]["recall_at_1"] >= 0.95, r
        assert r["genuine"]["agreement"] >= 0.95 and r["impostor"]["agreement"] >= 0.9, r
    # One probed list out of 256 must miss some nearest neighbours: recall is measured, not assumed.
    (stingy,) = [r for r in runs if r["setting"] == "nprobe=1"]
    assert stingy["genuine"]["recall_at_1"] < 0.95 and stingy["impostor"]["agreement"] < 1.0
    # Without re-scoring no quantised library would report exact float cosines; the IVF index re-ranks itself.
    assert {r["library"] for r in runs if r["rescored"]} == {"faiss-hnsw-sq8", "usearch-f16", "usearch-i8"}


def test_impostor_agreement_counts_decisions(report):
    """Exact search accepts some impostors at the default threshold here, so agreement is a real comparison:
    a stingy setting agrees less than a generous one."""
    (result,) = report["results"]
    assert 0 < result["exact_accept_rate"]["impostor"] < 1 and result["exact_accept_rate"]["genuine"] > 0.9
    by_setting = {(r["library"], r["setting"]): r["impostor"]["agreement"] for r in result["runs"]}
    assert by_setting[("hnswlib", "ef=8")] <= by_setting[("hnswlib", "ef=200")]


def test_table_lists_every_run_and_marks_the_target(report):
    (result,) = report["results"]
    lines = bench_store.format_table(result).splitlines()
    header = [c.strip() for c in lines[1].strip("|").split("|")]
    assert header == ["library", "setting", "build s", "B/vector", "RSS B/vector", "p50 ms", "p99 ms",
                      "recall@1 genuine", "agreement genuine", "agreement impostor", "target"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[3:]]
    assert len(rows) == len(result["runs"]) and all(len(r) == len(header) for r in rows)
    for row, run in zip(rows, result["runs"]):
        assert row[0].rstrip("*") == run["library"] and row[1] == run["setting"]
        assert float(row[7]) == run["genuine"]["recall_at_1"] and float(row[9]) == run["impostor"]["agreement"]
        assert (row[10] == "MEETS") == bench_store.meets_target(run)
    assert not all(r["meets_target"] for r in result["runs"])   # nprobe=1 cannot


def test_target_needs_latency_recall_and_both_agreements():
    def row(p99=1.0, recall=0.995, agree_gen=0.9995, agree_imp=1.0, imp_p99=1.0):
        return {"genuine": {"p99_ms": p99, "recall_at_1": recall, "agreement": agree_gen},
                "impostor": {"p99_ms": imp_p99, "recall_at_1": 0.5, "agreement": agree_imp}}
    assert bench_store.meets_target(row())
    for bad in (row(p99=2.01), row(imp_p99=2.5), row(recall=0.989), row(agree_gen=0.998), row(agree_imp=0.998)):
        assert not bench_store.meets_target(bad), bad


def test_missing_library_is_reported_not_fatal(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "usearch", None)   # import usearch.index now raises ImportError
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    assert ann_libraries.resolve(None)[1].keys() == {"usearch-f16", "usearch-i8"}
    out = tmp_path / "store.json"
    bench_store.main(["--n", "1000", "--dims", "32", "--queries", "50", "--ef", "64", "--threads", "1",
                      "--libraries", "hnswlib", "usearch", "--out", str(out)])
    (result,) = json.loads(out.read_text())["results"]
    assert {r["library"] for r in result["runs"]} == {"hnswlib"}
    assert result["threshold"] == round((result["genuine_cos_mean"] + result["random_pair_cos_mean"]) / 2, 2)
    assert set(result["missing"]) == {"usearch-f16", "usearch-i8"}
    captured = capsys.readouterr()
    assert "usearch-i8: MISSING" in captured.err and "| usearch-f16 | missing: not installed" in captured.out


def test_unknown_library_is_refused():
    with pytest.raises(SystemExit, match="unknown library 'annoy'"):
        ann_libraries.resolve(["annoy"])
