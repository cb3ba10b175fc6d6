"""The `vad` model served by a real tritonserver: same probabilities as in-process, carries, batching, refusals."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from engine.vad import FRAME, SileroVad, VadCarry, pad_to_frames
from tests.shared_data import utterances
from tools.export.vad import ONNX_NAME, VAD_MODEL

CHUNK = 64 * FRAME


def _infer(client, chunk: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
    tensors = []
    for name, value in (("waveform", chunk), ("state", carry.state), ("context", carry.context)):
        tensor = grpcclient.InferInput(name, list(value.shape), "FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        tensors.append(tensor)
    result = client.infer(VAD_MODEL, tensors)
    return result.as_numpy("probability"), VadCarry(result.as_numpy("state_out"), result.as_numpy("context_out"))


def _served_probabilities(client, waveform: np.ndarray) -> np.ndarray:
    padded, carry, parts = pad_to_frames(waveform.reshape(1, -1)), VadCarry.initial(1), []
    for start in range(0, padded.shape[1], CHUNK):
        probs, carry = _infer(client, padded[:, start:start + CHUNK], carry)
        parts.append(probs[0])
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    return [u.load() for u in utterances() if 3.0 <= u.seconds <= 10.0][:6]


def test_served_probabilities_equal_in_process(triton, model_repository, clips):
    local = SileroVad(model_repository / VAD_MODEL / "1" / ONNX_NAME)
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    for clip in clips[:2]:
        served = _served_probabilities(client, clip)
        np.testing.assert_allclose(served, local.probabilities(clip), atol=1e-6)
        assert served.max() > 0.9


def test_concurrent_recordings_are_batched_and_unchanged(triton, model_repository, clips):
    local = SileroVad(model_repository / VAD_MODEL / "1" / ONNX_NAME)
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    before = triton.inference_counts().get(VAD_MODEL, (0.0, 0.0))
    with ThreadPoolExecutor(max_workers=len(clips)) as pool:
        served = list(pool.map(lambda clip: _served_probabilities(client, clip), clips))
    after = triton.inference_counts()[VAD_MODEL]
    for clip, probs in zip(clips, served):
        np.testing.assert_allclose(probs, local.probabilities(clip), atol=1e-6)
    requests, executions = after[0] - before[0], after[1] - before[1]
    assert requests == sum(-(-clip.size // CHUNK) for clip in clips)
    assert executions < requests, "no two recordings' chunks shared an execution"


def test_a_chunk_that_is_not_whole_windows_is_refused(triton):
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    with pytest.raises(InferenceServerException, match="multiple of 512"):
        _infer(client, np.zeros((1, 1000), np.float32), VadCarry.initial(1))
    probs, _ = _infer(client, np.zeros((1, FRAME), np.float32), VadCarry.initial(1))  # still serving
    assert probs.shape == (1, 1) and probs[0, 0] < 0.5
