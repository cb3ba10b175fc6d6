"""GE2E served by a real tritonserver: parity with Resemblyzer on real speech, batching, refusals, model config."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from engine.contract import (ENSEMBLE_MODEL, GE2E, GRPC_REJECT_STATUS, HTTP_REJECT_STATUS, SAMPLE_RATE, WAVEFORM,
                             WAVEFORM_DTYPE)
from tests.engine.ge2e_reference import grpc_embed, resemblyzer_embed
from tests.engine.test_serving import _speech_of_lengths
from tools.export.ge2e import KNOWN_SHA256
from tools.export.repository import read_manifest

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def client(ge2e_triton):
    return grpcclient.InferenceServerClient(ge2e_triton.grpc_url)


def test_served_matches_resemblyzer_at_1_to_30_s(client):
    reference = resemblyzer_embed()
    for wave in _speech_of_lengths([1.0, 2.0, 3.0, 10.0, 30.0]):
        served = grpc_embed(client, wave)[0]
        assert served.shape == (256,)
        assert abs(float(np.linalg.norm(served)) - 1.0) < 1e-5
        assert float(served @ reference(wave)) >= MIN_COSINE, f"{len(wave) / SAMPLE_RATE:.0f} s"


def test_client_batch_with_different_speech_lengths(client):
    """Rows of one request keep different amounts of speech after trimming: padding must not leak into either."""
    wave = _speech_of_lengths([6.0])[0]
    with_pause = wave.copy()
    with_pause[SAMPLE_RATE:4 * SAMPLE_RATE] = 0.0  # a 3 s silence the VAD trims away
    out = grpc_embed(client, np.stack([wave, with_pause]))
    assert out.shape == (2, 256)
    for row, single in zip(out, (wave, with_pause)):
        assert float(row @ grpc_embed(client, single)[0]) >= MIN_COSINE
    assert float(out[0] @ out[1]) < 0.999  # the rows really differ


def test_concurrent_mixed_lengths_are_batched_and_unchanged(ge2e_triton, client):
    rng = np.random.default_rng(5)
    base = _speech_of_lengths([30.0])[0]
    seconds = [2.0] * 8 + [3.0] * 8 + list(rng.uniform(1.0, 20.0, size=8))
    waves = [base[int(o): int(o) + int(s * SAMPLE_RATE)] for s, o in
             zip(seconds, rng.uniform(0, 10 * SAMPLE_RATE, size=len(seconds)))]
    alone = [grpc_embed(client, w)[0] for w in waves]
    before = ge2e_triton.inference_counts()
    with ThreadPoolExecutor(max_workers=len(waves)) as pool:
        served = list(pool.map(lambda w: grpc_embed(client, w)[0], waves))
    for expected, got in zip(alone, served):
        assert float(expected @ got) >= MIN_COSINE
    for model in (GE2E.features_model, GE2E.embedding_model):
        count, executions = (a - b for a, b in zip(ge2e_triton.inference_counts()[model], before[model]))
        assert count == len(waves)
        assert executions < count, f"{model}: {executions} executions for {count} inferences (no batching)"


@pytest.mark.parametrize("wave,reason", [(np.zeros(200, np.float32), "too short"),
                                         (np.zeros(SAMPLE_RATE, np.float32), "silent"),
                                         (np.full(SAMPLE_RATE, np.nan, np.float32), "finite")])
def test_bad_input_is_invalid_argument_through_the_ensemble(ge2e_triton, client, wave, reason):
    with pytest.raises(grpcclient.InferenceServerException, match=reason) as grpc_error:
        grpc_embed(client, wave)
    assert grpc_error.value.status() == GRPC_REJECT_STATUS
    http = httpclient.InferenceServerClient(ge2e_triton.http_url)
    tensor = httpclient.InferInput(WAVEFORM, [1, len(wave)], WAVEFORM_DTYPE)
    tensor.set_data_from_numpy(wave[None], binary_data=True)
    with pytest.raises(httpclient.InferenceServerException) as http_error:
        http.infer(ENSEMBLE_MODEL, [tensor])
    assert http_error.value.status() == HTTP_REJECT_STATUS
    assert client.is_server_ready()


def test_model_config_names_the_model(client, ge2e_repository):
    config = client.get_model_config(ENSEMBLE_MODEL, as_json=True)["config"]
    params = {k: v["string_value"] for k, v in config["parameters"].items()}
    manifest = read_manifest(ge2e_repository)
    assert params["model_name"] == "ge2e" and params["embedding_dim"] == "256"
    assert params["random_weights"] == "false"
    assert params["weights_sha256"] == KNOWN_SHA256
    assert params["model_id"] == f"ge2e:{KNOWN_SHA256}" == manifest.model_id
    assert 0.5 < float(params["recommended_threshold"]) < 0.9
    assert float(params["recommended_threshold"]) == pytest.approx(manifest.recommended_threshold, abs=1e-4)


def test_embedding_model_refuses_counts_that_do_not_fit(client):
    """Called directly (bypassing ge2e_mel), the embedding model checks the window counts it is given."""
    windows = np.random.default_rng(0).random((1, 2, 160, 40), dtype=np.float32)

    def infer(count: int):
        inputs = [grpcclient.InferInput(GE2E.features_tensor, windows.shape, "FP32"),
                  grpcclient.InferInput(GE2E.partials_tensor, [1, 1], "INT32")]
        inputs[0].set_data_from_numpy(windows)
        inputs[1].set_data_from_numpy(np.array([[count]], dtype=np.int32))
        return client.infer(GE2E.embedding_model, inputs).as_numpy("embedding")

    assert infer(2).shape == (1, 256)
    for count in (0, 3):
        with pytest.raises(grpcclient.InferenceServerException, match="must count") as error:
            infer(count)
        assert error.value.status() == GRPC_REJECT_STATUS
