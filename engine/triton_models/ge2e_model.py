"""Triton model (CPU): GE2E partial windows (B, P, 160, 40) + counts (B, 1) -> unit utterance embeddings (B, 256)."""
from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from engine.contract import EMBEDDING, GE2E
from engine.ge2e_embedder import Ge2eEmbedder
from engine.triton_models.params import embedder_config, model_parameters, onnx_file
from engine.triton_models.responses import failure, rejection


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.embedder = Ge2eEmbedder(onnx_file(args, params), embedder_config(params))

    def execute(self, requests):
        windows = [pb_utils.get_input_tensor_by_name(r, GE2E.features_tensor).as_numpy() for r in requests]
        counts = [pb_utils.get_input_tensor_by_name(r, GE2E.partials_tensor).as_numpy() for r in requests]
        # Only a client calling this model directly, bypassing ge2e_mel, can send counts that do not fit.
        kept = [i for i, (w, c) in enumerate(zip(windows, counts)) if _counts_fit(w, c)]
        answers = dict(zip(kept, self._embed([windows[i] for i in kept], [counts[i] for i in kept])))
        return [answers[i] if i in answers else rejection(f"{GE2E.partials_tensor} must count 1..P windows per row")
                for i in range(len(requests))]

    def _embed(self, windows, counts):
        if not windows:
            return []
        # One onnxruntime pass over the real windows of every request (all 160 frames long), then per-row averages.
        rows = [w[b, :int(n)] for w, c in zip(windows, counts) for b, n in enumerate(c.reshape(-1))]
        try:
            embeddings = self.embedder.embed_many(rows)
        except Exception as exc:  # report onnxruntime failures per request instead of killing the stub
            return [failure(f"embedding failed: {exc}") for _ in windows]
        responses, start = [], 0
        for w in windows:
            batch = embeddings[start:start + w.shape[0]]
            start += w.shape[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(EMBEDDING, np.stack(batch))]))
        return responses


def _counts_fit(windows: np.ndarray, counts: np.ndarray) -> bool:
    return (windows.ndim == 4 and counts.shape == (windows.shape[0], 1)
            and bool(np.all((counts >= 1) & (counts <= windows.shape[1]))))
