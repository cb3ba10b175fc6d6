"""Accuracy of the served GE2E model on the shared speech (real weights, real Triton): EER, 1:N, calibration.

The embeddings come from session fixtures (tests/engine/conftest.py): each utterance is embedded once by
Triton and once by Resemblyzer's own pipeline, and every test here reuses them.
"""
from __future__ import annotations

import numpy as np
import pytest

from client.scoring.metrics import OperatingPoint, det_curve, equal_error_rate
from store.backends.memory import MemoryStore
from store.config import StorageConfig
from tools.export.calibration import trial_scores
from tools.export.repository import read_manifest

EER_TOLERANCE = 0.002  # absolute, served vs Resemblyzer's own pipeline
MAX_EER = 0.02  # Resemblyzer measures 0.67 % here; a broken front end lands far above
CALIBRATION_TOLERANCE = 0.01


def eer(embeddings: np.ndarray, speakers: list[str]) -> OperatingPoint:
    return equal_error_rate(det_curve(*trial_scores(embeddings, speakers)))


def error_at(threshold: float, embeddings: np.ndarray, speakers: list[str]) -> float:
    """Mean of miss and false-accept rates at a fixed threshold (the EER where the threshold is optimal)."""
    targets, nontargets = trial_scores(embeddings, speakers)
    return (float(np.mean(targets < threshold)) + float(np.mean(nontargets >= threshold))) / 2


def test_served_eer_matches_resemblyzer(ge2e_served_embeddings, ge2e_reference_embeddings, shared_clips):
    speakers = [clip.speaker for clip in shared_clips[0]]
    served, reference = eer(ge2e_served_embeddings, speakers), eer(ge2e_reference_embeddings, speakers)
    print(f"EER served {served.value:.4%} at {served.threshold:.4f}, "
          f"Resemblyzer {reference.value:.4%} at {reference.threshold:.4f}, {len(speakers)} utterances")
    assert abs(served.value - reference.value) <= EER_TOLERANCE
    assert served.value <= MAX_EER
    cosines = np.sum(ge2e_served_embeddings * ge2e_reference_embeddings, axis=1)
    assert cosines.min() >= 0.9999, f"worst utterance {shared_clips[0][int(cosines.argmin())].path}"


def test_eer_would_catch_a_broken_model(ge2e_served_embeddings, shared_clips):
    """The EER check is not vacuous: shuffling who said what (a model that ignores the speaker) fails it."""
    speakers = [clip.speaker for clip in shared_clips[0]]
    shuffled = list(np.random.default_rng(0).permutation(speakers))
    assert eer(ge2e_served_embeddings, shuffled).value > 10 * MAX_EER


async def test_identify_top1_with_two_enrollments(ge2e_served_embeddings, shared_clips):
    store = MemoryStore(StorageConfig(type="memory"))
    await store.open()
    by_speaker: dict[str, list[int]] = {}
    for index, clip in enumerate(shared_clips[0]):
        by_speaker.setdefault(clip.speaker, []).append(index)
    queries = []
    try:
        for speaker, indices in by_speaker.items():
            await store.create_user(speaker, [ge2e_served_embeddings[i] for i in indices[:2]])
            queries += [(speaker, i) for i in indices[2:]]
        hits = 0
        for speaker, index in queries:
            top = await store.search(ge2e_served_embeddings[index], k=1)
            hits += top[0].name == speaker
    finally:
        await store.close()
    accuracy = hits / len(queries)
    print(f"identify top-1 {accuracy:.3f} over {len(queries)} queries, {len(by_speaker)} enrolled speakers")
    assert len(by_speaker) >= 10 and len(queries) >= 40
    assert accuracy >= 0.95


def test_threshold_calibrated_on_half_holds_on_the_other_half(ge2e_served_embeddings, shared_clips):
    """Calibrate on one half of each speaker's utterances, evaluate on the held-out half, both ways round."""
    clips = shared_clips[0]
    seen: dict[str, int] = {}
    halves = []
    for clip in clips:
        halves.append(seen.get(clip.speaker, 0) % 2)
        seen[clip.speaker] = seen.get(clip.speaker, 0) + 1
    for calibrate_on in (0, 1):
        fit = [i for i, h in enumerate(halves) if h == calibrate_on]
        held = [i for i, h in enumerate(halves) if h != calibrate_on]
        fit_speakers, held_speakers = [clips[i].speaker for i in fit], [clips[i].speaker for i in held]
        threshold = eer(ge2e_served_embeddings[fit], fit_speakers).threshold
        optimum = eer(ge2e_served_embeddings[held], held_speakers).value
        got = error_at(threshold, ge2e_served_embeddings[held], held_speakers)
        print(f"threshold {threshold:.4f}: held-out error {got:.4%}, optimum {optimum:.4%}")
        assert got - optimum <= CALIBRATION_TOLERANCE
    # and a threshold far from the calibrated one is measurably worse: the comparison has teeth
    assert error_at(threshold + 0.2, ge2e_served_embeddings[held], held_speakers) - optimum > CALIBRATION_TOLERANCE


def test_recorded_threshold_is_the_shared_speech_eer_threshold(ge2e_repository, ge2e_served_embeddings, shared_clips):
    manifest = read_manifest(ge2e_repository)
    speakers = [clip.speaker for clip in shared_clips[0]]
    assert "shared" in manifest.threshold_source or "audio" in manifest.threshold_source
    assert manifest.recommended_threshold == pytest.approx(eer(ge2e_served_embeddings, speakers).threshold, abs=2e-3)
    assert error_at(manifest.recommended_threshold, ge2e_served_embeddings, speakers) <= MAX_EER
