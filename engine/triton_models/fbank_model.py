"""Triton model: 16 kHz mono float32 waveform (B, N) -> mean-normalised fbank (B, T, 80) for CAM++."""
from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from engine.contract import CAMPPLUS, WAVEFORM
from engine.features import FbankConfig, FbankExtractor
from engine.triton_models.params import model_parameters
from engine.triton_models.responses import rejection, too_short, waveform_problem


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.extractor = FbankExtractor(FbankConfig.from_params(params))
        self.min_frames = int(params.get("min_frames", "10"))

    def execute(self, requests):
        return [self._one(request) for request in requests]

    def _one(self, request):
        waveform = pb_utils.get_input_tensor_by_name(request, WAVEFORM).as_numpy()
        problem = waveform_problem(waveform) or too_short(
            waveform.shape[1], self.extractor.config.num_frames(waveform.shape[1]), self.min_frames)
        if problem:
            return rejection(problem)
        feats = np.stack([self.extractor(row) for row in waveform])
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(CAMPPLUS.features_tensor, feats)])
