"""Triton model: 16 kHz mono float32 waveform (B, N) -> GE2E partial mel windows (B, P, 160, 40) + counts (B, 1).

Rows of one request can keep different amounts of speech after silence trimming, so their windows are
zero-padded to the request's largest count; `partials` says how many windows of each row are real.
"""
from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from engine.contract import GE2E, WAVEFORM, InputRejected
from engine.ge2e_config import Ge2eConfig
from engine.ge2e_mel import Ge2eFrontEnd
from engine.triton_models.params import model_parameters
from engine.triton_models.responses import rejection, waveform_problem


class TritonPythonModel:
    def initialize(self, args):
        self.front_end = Ge2eFrontEnd(Ge2eConfig.from_params(model_parameters(args)))

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        waveform = pb_utils.get_input_tensor_by_name(request, WAVEFORM).as_numpy()
        problem = waveform_problem(waveform)
        if problem:
            return rejection(problem)
        try:
            windows = [self.front_end(row) for row in waveform]
        except InputRejected as exc:
            return rejection(str(exc))
        counts = np.array([[len(w)] for w in windows], dtype=np.int32)
        padded = np.zeros((len(windows), int(counts.max()), *windows[0].shape[1:]), dtype=np.float32)
        for row, w in enumerate(windows):
            padded[row, :len(w)] = w
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(GE2E.features_tensor, padded),
                                                          pb_utils.Tensor(GE2E.partials_tensor, counts)])
