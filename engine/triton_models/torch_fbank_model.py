"""Triton model: waveforms -> mean-normalised fbank for CAM++, batched in torch (the GPU hosts' front end).

engine.triton_models.fbank_model computes fbank one utterance at a time with kaldi-native-fbank, which caps a GPU
deployment far below CAM++'s speed there. This model takes every request of a Triton batch (mixed lengths) through
engine.torch_fbank in a few padded batches on the instance's device, and hands the features on without a copy
(DLPack) to the embedding model on the same GPU.
"""
from __future__ import annotations

import torch
import triton_python_backend_utils as pb_utils
from torch.utils import dlpack

from engine.contract import CAMPPLUS, WAVEFORM
from engine.features import FbankConfig
from engine.torch_fbank import BATCH_FRAMES, TorchFbank, fbank_many
from engine.triton_models.params import model_parameters
from engine.triton_models.responses import failure, rejection, too_short, waveform_problem


def instance_device(args: dict) -> torch.device:
    if args.get("model_instance_kind") == "GPU":
        return torch.device("cuda", int(args.get("model_instance_device_id", 0)))
    return torch.device("cpu")


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(args)
        self.device = instance_device(args)
        self.fbank = TorchFbank(FbankConfig.from_params(params)).to(self.device)
        self.min_frames = int(params.get("min_frames", "10"))
        self.batch_frames = int(params.get("fbank_batch_frames", str(BATCH_FRAMES)))

    def execute(self, requests):
        responses: list = [None] * len(requests)
        rows, spans = [], []  # every waveform row; per request: (its index, its first row, its row count)
        for index, request in enumerate(requests):
            waveform = pb_utils.get_input_tensor_by_name(request, WAVEFORM).as_numpy()
            problem = waveform_problem(waveform) or too_short(
                waveform.shape[1], self.fbank.config.num_frames(waveform.shape[1]), self.min_frames)
            if problem:
                responses[index] = rejection(problem)
                continue
            spans.append((index, len(rows), waveform.shape[0]))
            rows.extend(torch.from_numpy(row) for row in waveform)
        try:
            with torch.inference_mode():
                features = fbank_many(self.fbank, rows, self.device, self.batch_frames)
        except Exception as exc:  # a device failure answers these requests instead of killing the stub
            return [failure(f"fbank failed: {exc}") if r is None else r for r in responses]
        for index, first, count in spans:
            feats = torch.stack(features[first:first + count])
            responses[index] = pb_utils.InferenceResponse(output_tensors=[self._tensor(feats)])
        return responses

    def _tensor(self, feats: torch.Tensor):
        if feats.is_cuda:
            return pb_utils.Tensor.from_dlpack(CAMPPLUS.features_tensor, dlpack.to_dlpack(feats))
        return pb_utils.Tensor(CAMPPLUS.features_tensor, feats.numpy())
