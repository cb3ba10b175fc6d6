"""Resemblyzer's own pipeline and the served GE2E model on the shared speech, each run once per session."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tritonclient.grpc as grpcclient

from engine.contract import ENSEMBLE_MODEL, EMBEDDING, SAMPLE_RATE, WAVEFORM, WAVEFORM_DTYPE


def resemblyzer_embed():
    """wave -> VoiceEncoder.embed_utterance(preprocess_wav(wave)), Resemblyzer's documented usage."""
    from resemblyzer import VoiceEncoder, preprocess_wav

    encoder = VoiceEncoder("cpu", verbose=False)
    return lambda wave: encoder.embed_utterance(preprocess_wav(wave, SAMPLE_RATE))


def grpc_embed(client: grpcclient.InferenceServerClient, waves: np.ndarray) -> np.ndarray:
    """(B, N) or (N,) float32 waveforms -> (B, D) embeddings from the `speaker` ensemble."""
    batch = np.atleast_2d(waves).astype(np.float32)
    tensor = grpcclient.InferInput(WAVEFORM, batch.shape, WAVEFORM_DTYPE)
    tensor.set_data_from_numpy(batch)
    return client.infer(ENSEMBLE_MODEL, [tensor]).as_numpy(EMBEDDING)


def served_embeddings(url: str, waves: list[np.ndarray], concurrency: int = 8) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return np.concatenate(list(pool.map(lambda w: grpc_embed(client, w), waves)))
