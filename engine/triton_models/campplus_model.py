"""Triton model (CPU): fbank (B, T, 80) -> L2-normalised CAM++ embedding (B, D) with onnxruntime."""
from __future__ import annotations

import os

import triton_python_backend_utils as pb_utils

from engine.embedder import EmbedderConfig, OnnxEmbedder
from engine.triton_models.params import model_parameters


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        model_dir = os.path.join(args["model_repository"], args["model_version"])
        self.embedder = OnnxEmbedder(
            os.path.join(model_dir, params.get("onnx_file", "model.onnx")),
            EmbedderConfig(
                intra_op_threads=int(params.get("intra_op_threads", "0")),
                inter_op_threads=int(params.get("inter_op_threads", "1")),
                max_batch_frames=int(params.get("max_batch_frames", "6000")),
            ),
        )

    def execute(self, requests):
        feats = [pb_utils.get_input_tensor_by_name(r, "fbank").as_numpy() for r in requests]
        try:
            embeddings = self.embedder.embed_many(feats)
        except Exception as exc:  # report onnxruntime failures per request instead of killing the stub
            error = pb_utils.TritonError(f"embedding failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("embedding", e)]) for e in embeddings]
