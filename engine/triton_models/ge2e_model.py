"""Triton model (CPU): GE2E partial windows (B, P, 160, 40) + counts (B, 1) -> unit utterance embeddings (B, 256)."""
from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from engine.contract import EMBEDDING, GE2E
from engine.ge2e_embedder import Ge2eEmbedder
from engine.triton_models.params import embedder_config, model_parameters, onnx_file
from engine.triton_models.responses import failure


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.embedder = Ge2eEmbedder(onnx_file(args, params), embedder_config(params))

    def execute(self, requests):
        windows = [pb_utils.get_input_tensor_by_name(r, GE2E.features_tensor).as_numpy() for r in requests]
        counts = [pb_utils.get_input_tensor_by_name(r, GE2E.partials_tensor).as_numpy() for r in requests]
        # One onnxruntime pass over the real windows of every request (all 160 frames long), then per-row averages.
        rows = [w[b, :int(n)] for w, c in zip(windows, counts) for b, n in enumerate(c.reshape(-1))]
        try:
            embeddings = self.embedder.embed_many(rows)
        except Exception as exc:  # report onnxruntime failures per request instead of killing the stub
            return [failure(f"embedding failed: {exc}") for _ in requests]
        responses, start = [], 0
        for w in windows:
            batch = embeddings[start:start + w.shape[0]]
            start += w.shape[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(EMBEDDING, np.stack(batch))]))
        return responses

