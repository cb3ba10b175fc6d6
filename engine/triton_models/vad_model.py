"""Triton model (CPU): Silero VAD, chunk (B, N) + carry -> per-window speech probabilities (B, N/512) + carry.

Requests of equal chunk length are stacked into one batch (each row keeps its own carry), so concurrent recordings
share every onnxruntime call; a request whose length is not a multiple of 512 is refused on its own.
"""
from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import triton_python_backend_utils as pb_utils

from engine.triton_models.params import model_parameters
from engine.triton_models.responses import failure, rejection
from engine.vad import FRAME, SileroVad, VadCarry


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        model_dir = os.path.join(args["model_repository"], args["model_version"])
        self.vad = SileroVad(os.path.join(model_dir, params.get("onnx_file", "silero_vad.onnx")),
                             intra_op_threads=int(params.get("intra_op_threads", "1")))

    def execute(self, requests):
        responses = [None] * len(requests)
        groups = defaultdict(list)
        for index, request in enumerate(requests):
            inputs = [pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                      for name in ("waveform", "state", "context")]
            if inputs[0].ndim != 2 or inputs[0].shape[1] % FRAME or not np.all(np.isfinite(inputs[0])):
                responses[index] = rejection(f"waveform must be finite float32 (B, N) with N a multiple of {FRAME}")
                continue
            groups[inputs[0].shape[1]].append((index, inputs))
        for members in groups.values():
            self._run_group(members, responses)
        return responses

    def _run_group(self, members, responses) -> None:
        waveform, state, context = (np.concatenate([inputs[k] for _, inputs in members]) for k in range(3))
        try:
            probs, carry = self.vad.run(waveform, VadCarry(state, context))
        except Exception as exc:  # an onnxruntime failure answers these requests, it does not kill the stub
            for index, _ in members:
                responses[index] = failure(f"vad failed: {exc}")
            return
        row = 0
        for index, inputs in members:
            rows = slice(row, row + inputs[0].shape[0])
            row = rows.stop
            responses[index] = pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("probability", probs[rows]), pb_utils.Tensor("state_out", carry.state[rows]),
                pb_utils.Tensor("context_out", carry.context[rows])])
