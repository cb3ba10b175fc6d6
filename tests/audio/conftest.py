"""Real speech for the decoder tests."""
from __future__ import annotations

import numpy as np
import pytest

from tests.shared_data import utterances


@pytest.fixture(scope="session")
def a_clip() -> np.ndarray:
    """One 2-9 s utterance of real speech, 16 kHz mono float32."""
    return next(u for u in utterances() if 2.0 <= u.seconds <= 9.0).load()
