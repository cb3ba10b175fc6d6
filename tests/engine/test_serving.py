"""CAM++ served by a real tritonserver: parity with the in-process PyTorch model, batching of mixed lengths."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from engine.embedder import OnnxEmbedder
from engine.features import FbankExtractor
from tests.shared_data import utterances
from engine.contract import GRPC_REJECT_STATUS
from tools.export.repository import EMBEDDING_MODEL, ENSEMBLE_MODEL, FEATURES_MODEL, read_manifest

SAMPLE_RATE = 16000


def _grpc_embed(client: grpcclient.InferenceServerClient, wave: np.ndarray) -> np.ndarray:
    batch = wave.reshape(1, -1).astype(np.float32)
    tensor = grpcclient.InferInput("waveform", batch.shape, "FP32")
    tensor.set_data_from_numpy(batch)
    return client.infer(ENSEMBLE_MODEL, [tensor]).as_numpy("embedding")[0]


def _http_embed(client: httpclient.InferenceServerClient, wave: np.ndarray) -> np.ndarray:
    batch = wave.reshape(1, -1).astype(np.float32)
    tensor = httpclient.InferInput("waveform", batch.shape, "FP32")
    tensor.set_data_from_numpy(batch, binary_data=True)
    return client.infer(ENSEMBLE_MODEL, [tensor]).as_numpy("embedding")[0]


def _torch_reference(model, wave: np.ndarray) -> np.ndarray:
    import torch

    feats = torch.from_numpy(FbankExtractor()(wave))[None]
    with torch.no_grad():
        return torch.nn.functional.normalize(model(feats), dim=-1)[0].numpy()


def _speech_of_lengths(seconds: list[float]) -> list[np.ndarray]:
    """Real speech cut (or, for 30 s, joined from one speaker's utterances) to each length."""
    clips = utterances()
    by_speaker: dict[str, list] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip)
    speaker = max(by_speaker, key=lambda s: sum(c.seconds for c in by_speaker[s]))
    joined = np.concatenate([c.load() for c in by_speaker[speaker]])
    assert len(joined) >= max(seconds) * SAMPLE_RATE
    return [joined[: int(s * SAMPLE_RATE)] for s in seconds]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_embeddings_match_pytorch(triton, campplus_model, protocol):
    if protocol == "grpc":
        client, embed = grpcclient.InferenceServerClient(triton.grpc_url), _grpc_embed
    else:
        client, embed = httpclient.InferenceServerClient(triton.http_url), _http_embed
    for wave in _speech_of_lengths([1.0, 3.0, 10.0, 30.0]):
        served = embed(client, wave)
        reference = _torch_reference(campplus_model, wave)
        assert served.shape == reference.shape == (512,)
        assert float(served @ reference) >= 0.9999, f"{len(wave) / SAMPLE_RATE:.0f} s"


def test_concurrent_mixed_lengths_are_batched_and_unchanged(triton, model_repository):
    rng = np.random.default_rng(11)
    base = _speech_of_lengths([30.0])[0]
    # A realistic mix: many 2-4 s clips (several of equal length, as from a fixed-length recorder) and some long ones.
    seconds = [2.0] * 12 + [3.0] * 12 + [4.0] * 8 + list(rng.uniform(1.0, 30.0, size=16))
    rng.shuffle(seconds)
    waves = [base[int(o): int(o) + int(s * SAMPLE_RATE)] for s, o in
             zip(seconds, rng.uniform(0, len(base) - 30 * SAMPLE_RATE + 1, size=len(seconds)))]
    embedder = OnnxEmbedder(model_repository / EMBEDDING_MODEL / "1" / "model.onnx")
    extractor = FbankExtractor()
    before = triton.inference_counts()

    client = grpcclient.InferenceServerClient(triton.grpc_url)
    with ThreadPoolExecutor(max_workers=24) as pool:
        served = list(pool.map(lambda w: _grpc_embed(client, w), waves))

    for wave, embedding in zip(waves, served):
        alone = embedder.embed(extractor(wave)[None])[0]
        assert float(alone @ embedding) >= 0.9999
    for model in (FEATURES_MODEL, EMBEDDING_MODEL):
        count, executions = (a - b for a, b in zip(triton.inference_counts()[model], before[model]))
        assert count == len(waves)
        assert executions < count, f"{model}: {executions} executions for {count} inferences (no batching)"


def test_client_batch_of_equal_lengths(triton):
    wave = _speech_of_lengths([3.0])[0]
    batch = np.stack([wave, wave[::-1].copy(), wave * 0.5]).astype(np.float32)
    tensor = grpcclient.InferInput("waveform", batch.shape, "FP32")
    tensor.set_data_from_numpy(batch)
    out = grpcclient.InferenceServerClient(triton.grpc_url).infer(ENSEMBLE_MODEL, [tensor]).as_numpy("embedding")
    assert out.shape == (3, 512)
    single = _grpc_embed(grpcclient.InferenceServerClient(triton.grpc_url), wave)
    assert float(out[0] @ single) >= 0.9999
    assert float(out[0] @ out[1]) < 0.9999  # the reversed clip is a different input
    assert float(out[0] @ out[2]) >= 0.999  # fbank is log-mel: scaling only shifts it, mean subtraction removes it


def test_too_short_audio_is_invalid_argument(triton):
    """The fbank model's INVALID_ARG crosses the ensemble: clients act on the status, not the message text."""
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    with pytest.raises(grpcclient.InferenceServerException, match="too short") as error:
        _grpc_embed(client, np.zeros(200, np.float32))
    assert error.value.status() == GRPC_REJECT_STATUS
    assert client.is_server_ready()
    assert _grpc_embed(client, _speech_of_lengths([1.0])[0]).shape == (512,)  # a good request still succeeds


def test_model_config_says_random_weights(triton, model_repository):
    config = grpcclient.InferenceServerClient(triton.grpc_url).get_model_config(ENSEMBLE_MODEL, as_json=True)
    params = {k: v["string_value"] for k, v in config["config"]["parameters"].items()}
    assert params["random_weights"] == "true"
    assert params["embedding_dim"] == "512"
    assert params["model_name"] == "campplus"
    assert params["model_id"] == read_manifest(model_repository).model_id
    assert params["model_id"].startswith("campplus:")
    assert "recommended_threshold" not in params  # random weights recognise no one: no threshold to recommend
