"""Triton model (CPU): fbank (B, T, 80) -> L2-normalised CAM++ embedding (B, D) with onnxruntime."""
from __future__ import annotations

import triton_python_backend_utils as pb_utils

from engine.contract import CAMPPLUS, EMBEDDING
from engine.embedder import OnnxEmbedder
from engine.triton_models.params import embedder_config, model_parameters, onnx_file
from engine.triton_models.responses import failure


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.embedder = OnnxEmbedder(onnx_file(args, params), embedder_config(params))

    def execute(self, requests):
        feats = [pb_utils.get_input_tensor_by_name(r, CAMPPLUS.features_tensor).as_numpy() for r in requests]
        try:
            embeddings = self.embedder.embed_many(feats)
        except Exception as exc:  # report onnxruntime failures per request instead of killing the stub
            return [failure(f"embedding failed: {exc}") for _ in requests]
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(EMBEDDING, e)]) for e in embeddings]
