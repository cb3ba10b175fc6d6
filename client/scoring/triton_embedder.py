"""Embeds waveforms with the Triton "speaker" ensemble over async gRPC, many requests in flight at once.

One request carries one utterance; keeping `concurrency` of them in flight is what lets Triton's dynamic batcher
form batches (mixed lengths batch in the fbank model; equal lengths in the embedding model). Input and output
names come from the model's metadata; the model sha256 (the cache key) from its config's `parameters`.
"""
from __future__ import annotations

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from client.scoring.errors import EmbeddingError
from engine.model_info import ModelInfo

DEFAULT_MODEL = "speaker"


class TritonEmbedder:
    """Use as `async with TritonEmbedder(url) as embedder:`; `requests_sent` counts inference requests."""

    def __init__(self, grpc_url: str, model: str = DEFAULT_MODEL, timeout_s: float = 120.0):
        self.grpc_url = grpc_url
        self.model = model
        self.timeout_s = timeout_s
        self.requests_sent = 0
        self._client: grpcclient.InferenceServerClient | None = None
        self._info: ModelInfo | None = None

    async def __aenter__(self) -> "TritonEmbedder":
        self._client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            self._info = await self._model_info()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("TritonEmbedder is not connected: use `async with`")
        return self._info

    async def embed(self, waveform: np.ndarray) -> np.ndarray:
        """One 16 kHz mono float32 waveform -> its (D,) embedding."""
        return (await self.embed_batch(np.asarray(waveform).reshape(1, -1)))[0]

    async def embed_batch(self, waveforms: np.ndarray) -> np.ndarray:
        """Equal-length waveforms (B, N) -> their (B, D) embeddings, in one request."""
        info = self.info
        batch = np.ascontiguousarray(waveforms, dtype=np.float32)
        tensor = grpcclient.InferInput(info.input_name, list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        self.requests_sent += 1
        try:
            result = await self._client.infer(info.name, [tensor],
                                              outputs=[grpcclient.InferRequestedOutput(info.output_name)],
                                              client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise EmbeddingError(f"Triton {self.grpc_url} model {info.name}: {exc.message()}") from None
        return result.as_numpy(info.output_name)

    async def _model_info(self) -> ModelInfo:
        try:
            if not await self._client.is_model_ready(self.model):
                raise EmbeddingError(f"model {self.model!r} is not ready on Triton {self.grpc_url}")
            config = (await self._client.get_model_config(self.model, as_json=True))["config"]
        except InferenceServerException as exc:
            raise EmbeddingError(f"Triton {self.grpc_url}: {exc.message()}") from None
        if len(config.get("input", [])) != 1 or len(config.get("output", [])) != 1:
            raise EmbeddingError(f"model {self.model!r} must have one input and one output")
        return ModelInfo.from_config(config)
