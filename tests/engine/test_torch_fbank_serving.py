"""The torch front end (the GPU targets' `fbank` model) served by a real tritonserver, here on its CPU instance.

Same model file as on a GPU host, only the device differs: mixed lengths of one Triton batch padded together,
bad requests of that batch refused on their own, and embeddings equal to the in-process torch fbank + CAM++.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from engine.contract import GRPC_REJECT_STATUS
from engine.embedder import OnnxEmbedder
from engine.features import FbankExtractor
from tests.conftest import EMBEDDING_DIM, RANDOM_SEED
from tools.export.real_speech import speech_of_lengths
from tools.export.repository import EMBEDDING_MODEL, ENSEMBLE_MODEL, FEATURES_MODEL, RepositoryOptions

torch = pytest.importorskip("torch")
from engine.torch_fbank import TorchFbank  # noqa: E402  (needs torch)

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def torch_front_end_repository(tmp_path_factory):
    from tools.export.pipeline import ExportRequest, run_export

    root = tmp_path_factory.mktemp("torch_front_end")
    run_export(ExportRequest(output=root, random_weights=True, embedding_dim=EMBEDDING_DIM, seed=RANDOM_SEED,
                             vad=False, repository=RepositoryOptions(front_end="torch", max_queue_delay_us=20000)))
    return root


@pytest.fixture(scope="module")
def torch_front_end_triton(triton_factory, torch_front_end_repository):
    return triton_factory(torch_front_end_repository, name="triton-torch-fbank")


def _infer(client, wave: np.ndarray) -> np.ndarray:
    batch = np.atleast_2d(wave).astype(np.float32)
    tensor = grpcclient.InferInput("waveform", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    return client.infer(ENSEMBLE_MODEL, [tensor]).as_numpy("embedding")


def _refusal(client, wave: np.ndarray):
    try:
        _infer(client, wave)
    except grpcclient.InferenceServerException as error:
        return error
    return None


def test_a_batch_of_mixed_lengths_and_bad_requests(torch_front_end_triton, torch_front_end_repository):
    rng = np.random.default_rng(5)
    base = speech_of_lengths((30,))[0]
    seconds = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.5, 7.3, 12.0, 30.0] * 2
    waves = [base[o: o + int(s * SAMPLE_RATE)] for s, o in
             zip(seconds, rng.integers(0, len(base) - 30 * SAMPLE_RATE + 1, size=len(seconds)))]
    nan = base[:SAMPLE_RATE].copy()
    nan[100] = np.nan
    bad = [np.zeros(300, np.float32), nan]  # too short for one frame; not finite
    client = grpcclient.InferenceServerClient(torch_front_end_triton.grpc_url)
    before = torch_front_end_triton.inference_counts()

    with ThreadPoolExecutor(max_workers=len(waves) + len(bad)) as pool:
        refusals = [pool.submit(_refusal, client, wave) for wave in bad]
        served = list(pool.map(lambda wave: _infer(client, wave)[0], waves))

    embedder = OnnxEmbedder(torch_front_end_repository / EMBEDDING_MODEL / "1" / "model.onnx")
    fbank = TorchFbank()
    for wave, embedding in zip(waves, served):
        with torch.no_grad():
            alone = embedder.embed(fbank(torch.from_numpy(wave)[None]).numpy())[0]
        assert float(alone @ embedding) >= 0.9999, f"{len(wave) / SAMPLE_RATE:.1f} s"
    messages = [refusal.result() for refusal in refusals]
    assert all(m is not None and m.status() == GRPC_REJECT_STATUS for m in messages)
    assert "too short" in messages[0].message() and "finite" in messages[1].message()
    count, executions = (a - b for a, b in zip(torch_front_end_triton.inference_counts()[FEATURES_MODEL],
                                               before[FEATURES_MODEL]))
    assert count >= len(waves) and executions < count  # requests of different lengths were computed together


def test_it_agrees_with_the_kaldi_front_end(torch_front_end_triton, torch_front_end_repository):
    """Features within 1e-3 of kaldi-native-fbank (tests/engine/test_torch_fbank.py) keep the embedding: checked
    through the same random CAM++, which amplifies input differences far more than trained weights do."""
    embedder = OnnxEmbedder(torch_front_end_repository / EMBEDDING_MODEL / "1" / "model.onnx")
    client = grpcclient.InferenceServerClient(torch_front_end_triton.grpc_url)
    for wave in speech_of_lengths((1, 3, 10)):
        kaldi = embedder.embed(FbankExtractor()(wave)[None])[0]
        assert float(kaldi @ _infer(client, wave)[0]) >= 0.999


def test_a_client_batch_keeps_its_rows_apart(torch_front_end_triton):
    wave = speech_of_lengths((6,))[0]
    rows = [wave[: 3 * SAMPLE_RATE], wave[: 3 * SAMPLE_RATE][::-1].copy(), wave[3 * SAMPLE_RATE:]]
    client = grpcclient.InferenceServerClient(torch_front_end_triton.grpc_url)
    out = _infer(client, np.stack(rows))
    assert out.shape == (3, EMBEDDING_DIM)
    for row, embedding in zip(rows, out):
        assert float(_infer(client, row)[0] @ embedding) >= 0.9999
    assert max(float(out[0] @ out[1]), float(out[0] @ out[2])) < 0.999  # three inputs, three embeddings
