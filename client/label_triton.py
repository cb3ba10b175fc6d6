"""The labelling pipeline's backends straight over Triton gRPC (for `vomid label DIR`, no router involved)."""
from __future__ import annotations

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from client.scoring.errors import EmbeddingError
from client.scoring.triton_embedder import TritonEmbedder
from engine.vad import VadCarry

VAD_OUTPUTS = ("probability", "state_out", "context_out")


class TritonVad:
    """Use as `async with TritonVad(url) as vad:`; `run` is the VadBackend of labelling.backends."""

    def __init__(self, grpc_url: str, model: str = "vad", timeout_s: float = 120.0):
        self.grpc_url, self.model, self.timeout_s = grpc_url, model, timeout_s
        self._client: grpcclient.InferenceServerClient | None = None

    async def __aenter__(self) -> "TritonVad":
        self._client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            ready = await self._client.is_model_ready(self.model)
        except InferenceServerException as exc:
            await self._client.close()
            raise EmbeddingError(f"Triton {self.grpc_url}: {exc.message()}") from None
        if not ready:
            await self._client.close()
            raise EmbeddingError(f"model {self.model!r} is not ready on Triton {self.grpc_url} (export the model "
                                 "repository again: the VAD model came with speaker labelling)")
        return self

    async def __aexit__(self, *exc) -> None:
        await self._client.close()

    async def run(self, chunk: np.ndarray, carry: VadCarry) -> tuple[np.ndarray, VadCarry]:
        tensors = []
        for name, value in (("waveform", chunk.reshape(1, -1)), ("state", carry.state), ("context", carry.context)):
            tensor = grpcclient.InferInput(name, list(value.shape), "FP32")
            tensor.set_data_from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            tensors.append(tensor)
        try:
            result = await self._client.infer(self.model, tensors, client_timeout=self.timeout_s,
                                              outputs=[grpcclient.InferRequestedOutput(o) for o in VAD_OUTPUTS])
        except InferenceServerException as exc:
            raise EmbeddingError(f"Triton {self.grpc_url} model {self.model}: {exc.message()}") from None
        return result.as_numpy("probability")[0], VadCarry(result.as_numpy("state_out"),
                                                           result.as_numpy("context_out"))


class BatchEmbedder:
    """WindowEmbedder over a connected TritonEmbedder (the speaker ensemble)."""

    def __init__(self, embedder: TritonEmbedder):
        self.embedder = embedder

    async def embed(self, windows: np.ndarray) -> np.ndarray:
        return await self.embedder.embed_batch(windows)
