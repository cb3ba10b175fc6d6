"""engine.vad reproduces silero-vad's own ONNX wrapper exactly, however a stream is cut into chunks or batched."""
from __future__ import annotations

import numpy as np
import pytest

from engine.vad import FRAME, SileroVad, VadCarry, pad_to_frames
from tests.shared_data import utterances

silero_vad = pytest.importorskip("silero_vad", reason="silero-vad (the export extra) is the reference")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    from tools.export.vad import silero_onnx

    return SileroVad(silero_onnx()[0])


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    clips = [u for u in utterances() if 4.0 <= u.seconds <= 12.0][:3]
    return np.concatenate([c.load() for c in clips] + [np.zeros(300, np.float32)])  # a partial last window


def test_probabilities_equal_the_package_wrapper(vad, speech):
    reference = silero_vad.load_silero_vad(onnx=True).audio_forward(torch.from_numpy(speech), 16000)[0].numpy()
    ours = vad.probabilities(speech)
    assert ours.shape == reference.shape == (-(-speech.size // FRAME),)
    np.testing.assert_array_equal(ours, reference)
    assert ours.max() > 0.9 and ours.min() < 0.1  # real speech and real pauses, not a constant


@pytest.mark.parametrize("chunk_frames", [1, 37, 500])
def test_chunked_stream_equals_whole_stream(vad, speech, chunk_frames):
    whole = vad.probabilities(speech)
    padded = pad_to_frames(speech.reshape(1, -1))
    carry, parts = VadCarry.initial(1), []
    for start in range(0, padded.shape[1], chunk_frames * FRAME):
        probs, carry = vad.run(padded[:, start:start + chunk_frames * FRAME], carry)
        parts.append(probs[0])
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_batch_rows_are_independent_streams(vad, speech):
    first, second = speech[: 40 * FRAME], speech[-40 * FRAME:]
    carry = VadCarry.initial(2)
    probs, carry = vad.run(np.stack([first[: 20 * FRAME], second[: 20 * FRAME]]), carry)
    more, _ = vad.run(np.stack([first[20 * FRAME:], second[20 * FRAME:]]), carry)
    np.testing.assert_allclose(np.concatenate([probs[0], more[0]]), vad.probabilities(first), atol=1e-6)
    np.testing.assert_allclose(np.concatenate([probs[1], more[1]]), vad.probabilities(second), atol=1e-6)


def test_a_fresh_carry_differs_from_a_carried_one(vad, speech):
    """The state matters: restarting it mid-stream changes the probabilities (so carrying it is tested above)."""
    padded = pad_to_frames(speech.reshape(1, -1))
    _, carry = vad.run(padded[:, : 50 * FRAME], VadCarry.initial(1))
    carried, _ = vad.run(padded[:, 50 * FRAME: 60 * FRAME], carry)
    fresh, _ = vad.run(padded[:, 50 * FRAME: 60 * FRAME], VadCarry.initial(1))
    assert not np.allclose(carried, fresh)


def test_bad_shapes_are_refused(vad):
    with pytest.raises(ValueError, match="multiple of 512"):
        vad.run(np.zeros((1, 1000), np.float32), VadCarry.initial(1))
    with pytest.raises(ValueError, match="do not fit"):
        vad.run(np.zeros((2, FRAME), np.float32), VadCarry.initial(1))
