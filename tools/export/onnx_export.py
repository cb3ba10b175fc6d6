"""PyTorch CAM++ -> ONNX, and the self-check that the ONNX graph reproduces PyTorch."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from engine.features import FbankConfig, FbankExtractor
from tools.export import onnx_graph
from tools.export.errors import CheckpointError, ParityError
from tools.export.real_speech import CHECK_SECONDS, speech_of_lengths

log = logging.getLogger(__name__)

PARITY_SECONDS = CHECK_SECONDS
MIN_COSINE = 0.9999
OPSET = 17


def export_torch(model: torch.nn.Module, path: Path) -> onnx.ModelProto:
    """Exports with dynamic batch and time axes; returns the standardized graph (also written to `path`)."""
    dummy = torch.randn(2, 200, onnx_graph.FEAT_DIM)
    raw_path = path.with_suffix(".raw.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python ints are expected here
        # The TorchScript exporter handles CAM++'s time-dependent pooling with symbolic shapes reliably.
        torch.onnx.export(
            model.eval(), (dummy,), str(raw_path), dynamo=False, opset_version=OPSET,
            input_names=["x"], output_names=["raw"],
            dynamic_axes={"x": {0: "batch", 1: "frames"}, "raw": {0: "batch"}},
        )
    graph = onnx_graph.standardize(onnx.load(str(raw_path)), str(raw_path))
    raw_path.unlink()
    onnx.save(graph, str(path))
    return graph


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def parity_inputs(seed: int = 1234) -> list[np.ndarray]:
    """Mean-normalised pseudo-features at the lengths we serve (1-30 s): for shape and finiteness probes only."""
    rng = np.random.default_rng(seed)
    frames = [FbankConfig().num_frames(16000 * s) for s in PARITY_SECONDS]
    feats = [rng.normal(0, 3, size=(1, t, onnx_graph.FEAT_DIM)).astype(np.float32) for t in frames]
    return [f - f.mean(axis=1, keepdims=True) for f in feats]


def speech_features() -> list[np.ndarray]:
    """Fbank (1, T, 80) of the shipped real speech at 1, 3, 10 and 30 s: what parity is checked on."""
    extractor = FbankExtractor()
    return [extractor(wave)[None] for wave in speech_of_lengths(PARITY_SECONDS)]


def check_parity(model: torch.nn.Module, onnx_path: Path) -> list[float]:
    """Cosine between PyTorch and onnxruntime embeddings of real speech per length; ParityError below MIN_COSINE."""
    sess = session(onnx_path)
    cosines = []
    for feats in speech_features():
        with torch.no_grad():
            ref = torch.nn.functional.normalize(model(torch.from_numpy(feats)), dim=-1).numpy()
        got = sess.run([onnx_graph.OUTPUT_NAME], {onnx_graph.INPUT_NAME: feats})[0]
        cosines.append(float((ref * got).sum()))
    worst = min(cosines)
    log.info("ONNX vs PyTorch cosine per length %s s: %s", PARITY_SECONDS, [round(c, 7) for c in cosines])
    if worst < MIN_COSINE:
        raise ParityError(f"ONNX export differs from PyTorch: cosine {worst:.6f} < {MIN_COSINE} "
                          f"(per length {PARITY_SECONDS} s: {cosines})")
    return cosines


def probe_onnx(onnx_path: Path) -> int:
    """Runs a standardized graph once per length; returns the embedding size, checks outputs are unit vectors."""
    sess = session(onnx_path)
    dim = None
    for feats in parity_inputs():
        try:
            out = sess.run([onnx_graph.OUTPUT_NAME], {onnx_graph.INPUT_NAME: feats})[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise CheckpointError(f"{onnx_path} fails on fbank of shape {feats.shape}: {str(exc)[:300]}") from None
        norms = np.linalg.norm(out, axis=1)
        if out.ndim != 2 or not np.all(np.isfinite(out)) or not np.allclose(norms, 1.0, atol=1e-4):
            raise CheckpointError(f"{onnx_path} gives no usable embedding for {feats.shape[1]} frames")
        dim = out.shape[1]
    return int(dim)
