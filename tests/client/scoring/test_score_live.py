"""`vomid score` end to end on the real speech against a real Triton; the second run is served by the cache."""
from __future__ import annotations

import itertools
import json
import random
import sys

import numpy as np
import pytest
import soundfile as sf
import tritonclient.grpc as grpcclient

from client.scoring.audio_loader import load_waveform
from client.scoring.errors import EmbeddingError
from client.scoring.pipeline import ScoreRequest, run_score
from client.scoring.trials import Trial, write_trials
from engine.embedder import OnnxEmbedder
from engine.features import FbankExtractor
from tests.shared_data import AUDIO, utterances

NONTARGET_SAMPLE = 300


@pytest.fixture(scope="module")
def trial_list(tmp_path_factory):
    """All same-speaker pairs, plus a seeded sample of different-speaker pairs."""
    utts = utterances()
    pairs = list(itertools.combinations(utts, 2))
    targets = [Trial(True, a.path, b.path) for a, b in pairs if a.speaker == b.speaker]
    others = [Trial(False, a.path, b.path) for a, b in pairs if a.speaker != b.speaker]
    trials = targets + random.Random(0).sample(others, min(NONTARGET_SAMPLE, len(others)))
    path = tmp_path_factory.mktemp("trials") / "trials.txt"
    write_trials(path, trials, AUDIO)
    return path, trials


def _inference_count(grpc_url: str) -> int:
    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        stats = client.get_inference_statistics("speaker", as_json=True)["model_stats"][0]
        return int(stats.get("inference_count", 0))
    finally:
        client.close()


def test_score_end_to_end_then_from_cache(triton, model_repository, trial_list, tmp_path, monkeypatch, caplog):
    trial_file, trials = trial_list
    request = ScoreRequest(trials=trial_file, grpc_url=triton.grpc_url, out_dir=tmp_path / "first",
                           audio_root=AUDIO, cache_dir=tmp_path / "cache", concurrency=8)
    first = run_score(request)
    files = {p for t in trials for p in (t.enroll, t.test)}
    report = json.loads(first.report_path.read_text())
    assert report["trials"]["count"] == len(trials)
    assert report["trials"]["targets"] == sum(t.target for t in trials)
    assert report["embeddings"]["computed"] == report["embeddings"]["triton_requests"] == len(files)
    manifest = json.loads((model_repository / "speaker" / "manifest.json").read_text())
    assert report["model"]["sha256"] == manifest["model_sha256"]
    assert 0.0 <= report["eer"]["value"] <= 1.0
    assert 0.0 <= report["min_dcf"]["0.01"]["value"] <= 1.0 and 0.0 <= report["min_dcf"]["0.001"]["value"] <= 1.0
    assert set(report["thresholds"]) == {"eer", "mindcf-0.01", "mindcf-0.001"}
    assert (tmp_path / "first" / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "first" / "scores.txt").read_text().splitlines()) == len(trials)
    assert np.all(np.abs(first.scores) <= 1.0 + 1e-6)

    before = _inference_count(triton.grpc_url)
    request.out_dir = tmp_path / "second"
    second = run_score(request)
    assert second.report["embeddings"]["triton_requests"] == 0
    assert second.report["embeddings"]["cached"] == len(files)
    assert _inference_count(triton.grpc_url) == before  # Triton ran nothing
    np.testing.assert_allclose(second.scores, first.scores, atol=1e-6)

    # Without the plots extra (matplotlib), everything but the DET picture is still written.
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    monkeypatch.delitem(sys.modules, "client.scoring.det_plot", raising=False)
    request.out_dir = tmp_path / "third"
    third = run_score(request)
    assert "det" not in third.report["files"] and not (tmp_path / "third" / "det.png").exists()
    assert "edge-vomid[plots]" in caplog.text
    np.testing.assert_allclose(third.scores, first.scores, atol=1e-6)


def test_triton_embeddings_match_in_process_onnxruntime(triton, model_repository, trial_list, tmp_path):
    """The scored embeddings are the model's: same as FbankExtractor + OnnxEmbedder on the same audio."""
    few = tmp_path / "few.txt"
    write_trials(few, [trial_list[1][0], trial_list[1][-1]], AUDIO)  # one target, one non-target
    request = ScoreRequest(trials=few, grpc_url=triton.grpc_url, out_dir=tmp_path, audio_root=AUDIO, cache_dir=None)
    run = run_score(request).embedding_run
    assert run.cached == 0 and run.computed == len(run.embeddings) > 0
    extractor = FbankExtractor()
    embedder = OnnxEmbedder(model_repository / "campplus" / "1" / "model.onnx")
    for path, embedding in run.embeddings.items():
        expected = embedder.embed(extractor(load_waveform(path))[None])[0]
        assert float(np.dot(expected, embedding)) > 0.9999


def test_a_file_triton_refuses_is_named(triton, trial_list, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.full(400, 0.1, dtype=np.float32), 16000)  # 25 ms: fewer frames than the model needs
    good = trial_list[1][0].enroll
    trials = tmp_path / "trials.txt"
    write_trials(trials, [Trial(True, good, short), Trial(False, good, good)])
    with pytest.raises(EmbeddingError, match="short.wav"):
        run_score(ScoreRequest(trials=trials, grpc_url=triton.grpc_url, out_dir=tmp_path, cache_dir=None))
