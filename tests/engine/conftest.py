"""GE2E embeddings of the shared speech, computed once per session: by Resemblyzer itself and by Triton."""
from __future__ import annotations

import numpy as np
import pytest

from tests.engine.ge2e_reference import resemblyzer_embed, served_embeddings
from tests.shared_data import utterances


@pytest.fixture(scope="session")
def shared_clips():
    clips = utterances()  # skips when ../shared/audio is absent
    return clips, [clip.load() for clip in clips]


@pytest.fixture(scope="session")
def ge2e_reference_embeddings(shared_clips) -> np.ndarray:
    embed = resemblyzer_embed()
    return np.stack([embed(wave) for wave in shared_clips[1]])


@pytest.fixture(scope="session")
def ge2e_served_embeddings(ge2e_triton, shared_clips) -> np.ndarray:
    return served_embeddings(ge2e_triton.grpc_url, shared_clips[1])
