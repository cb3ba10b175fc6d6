"""labelling.naming over a real (memory) voiceprint store: enrolled users by id and name, the rest numbered."""
from __future__ import annotations

import numpy as np
import pytest

from labelling.naming import StoreMatcher, name_speakers
from labelling.segments import Turn
from store import StorageConfig, create_store

DIM = 32


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


@pytest.fixture
async def store():
    store = create_store(StorageConfig(type="memory"))
    await store.open()
    yield store
    await store.close()


async def test_enrolled_clusters_get_the_user_others_a_number(store):
    ann = await store.create_user("Ann Lee", [_unit(1)])
    centres = np.stack([_unit(5), _unit(1), _unit(6), _unit(1) * 0.98 + _unit(9) * 0.02])
    # Cluster 2 speaks first, then 1 (Ann), 0, and 3 (Ann again, another cluster).
    turns = [Turn(0, 16000, 2), Turn(16000, 48000, 1), Turn(50000, 66000, 0), Turn(70000, 86000, 3)]
    named = await name_speakers(centres, turns, StoreMatcher(store, threshold=lambda: 0.9))
    assert named[2].label == "speaker_1" and named[0].label == "speaker_2"
    assert named[1] is named[3]  # two clusters of one enrolled user are one speaker
    assert (named[1].label, named[1].user_id, named[1].name) == (ann.user_id, ann.user_id, "Ann Lee")
    assert named[1].score == pytest.approx(1.0, abs=1e-5) and named[1].seconds == 3.0
    assert named[2].user_id is None and named[2].score is None and named[2].seconds == 1.0


async def test_below_the_threshold_is_nobody(store):
    await store.create_user("Bob", [_unit(1)])
    near = _unit(1) + 0.8 * _unit(2)
    score = float(near @ _unit(1) / np.linalg.norm(near))
    named = await name_speakers(near[None], [Turn(0, 1600, 0)], StoreMatcher(store, threshold=lambda: score + 0.01))
    assert named[0].label == "speaker_1"
    named = await name_speakers(near[None], [Turn(0, 1600, 0)], StoreMatcher(store, threshold=lambda: score - 0.01))
    assert named[0].name == "Bob"


async def test_an_empty_store_and_no_matcher(store):
    turns = [Turn(0, 1600, 0), Turn(1600, 3200, 1)]
    for matcher in (StoreMatcher(store, lambda: 0.5), None):
        named = await name_speakers(np.stack([_unit(1), _unit(2)]), turns, matcher)
        assert [named[k].label for k in (0, 1)] == ["speaker_1", "speaker_2"]
