"""One export run: weights -> checked ONNX (-> TensorRT plan) -> Triton model repository, for either model family."""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from engine.contract import CAMPPLUS, GE2E, family
from tools.export import (calibration, campplus, onnx_export, onnx_graph, quantize, sources, tensorrt, torchscript,
                          vad)
from tools.export.errors import ExportError
from tools.export.repository import Manifest, RepositoryOptions, write_repository

log = logging.getLogger(__name__)

# The ModelScope cards' thresholds, recorded when no shared speech is at hand to calibrate on.
CARD_THRESHOLDS = {192: (0.31, "model card: speech_campplus_sv_zh-cn_16k-common"),
                   512: (0.39, "model card: speech_campplus_sv_zh-cn_3dspeaker_16k")}


@dataclass
class ExportRequest:
    output: Path
    model: str = CAMPPLUS.name
    model_id: str | None = None
    model_dir: Path | None = None
    checkpoint: Path | None = None
    onnx: Path | None = None
    random_weights: bool = False
    embedding_dim: int = 512
    seed: int = 0
    cache_dir: Path = Path.home() / ".cache" / "vomid" / "modelscope"
    revision: str | None = None
    offline: bool = False
    fp16: bool = False
    precision: str = "fp32"  # int8: onnxruntime static quantisation, checked against fp32 on real speech
    calibrate: bool = True  # recommended threshold from the shared speech when present (real weights only)
    vad: bool = True  # also write the Silero `vad` model (speech labelling)
    repository: RepositoryOptions = field(default_factory=RepositoryOptions)


def resolve_weights(request: ExportRequest) -> sources.WeightsFile:
    if request.onnx:
        return sources.classify_file(request.onnx)
    if request.checkpoint:
        return sources.classify_file(request.checkpoint)
    if request.model_dir:
        return sources.from_snapshot_dir(request.model_dir)
    if not request.model_id:
        from_env = sources.from_environment()
        if from_env:
            return from_env
    return sources.from_modelscope(request.model_id or sources.DEFAULT_MODEL_ID, request.cache_dir,
                                   request.revision, request.offline)


def run_export(request: ExportRequest) -> Manifest:
    family(request.model)  # an unknown name is a ValueError naming the choices
    check_precision(request)
    check_target(request)
    if request.model == GE2E.name:
        from tools.export.ge2e_pipeline import export_ge2e

        manifest = export_ge2e(request)
    else:
        manifest = _export_campplus(request)
    if request.vad:  # the speech-labelling VAD model, separate from the speaker models
        vad.write_vad_model(request.output, request.repository)
    return manifest


def _export_campplus(request: ExportRequest) -> Manifest:
    with tempfile.TemporaryDirectory(prefix="vomid-export-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        weights_sha = ""
        if request.random_weights:
            log.warning("building a RANDOM-WEIGHT CAM++ (seed %d): for tests and demos only, it recognises no one",
                        request.seed)
            model = campplus.random_campplus(request.embedding_dim, request.seed)
            source = f"random-weights:seed={request.seed}:dim={request.embedding_dim}"
            cosines = _export_checked(model, onnx_path)
        else:
            weights = resolve_weights(request)
            source, weights_sha = weights.description, sources.sha256_file(weights.path)
            if weights.kind == "checkpoint":
                model = campplus.load_campplus(weights.path)
                cosines = _export_checked(model, onnx_path)
            elif request.repository.target == "libtorch":
                raise ExportError(f"--target libtorch traces the PyTorch model, and {source} is an ONNX graph: "
                                  "give the CAM++ checkpoint (--checkpoint, --model-dir or --model-id)")
            else:
                graph = onnx_graph.standardize(onnx_graph.load_onnx(weights.path), str(weights.path))
                onnx.save(graph, str(onnx_path))
                cosines = []  # no PyTorch model to compare with: probe_onnx checks it runs and normalises
        dim = onnx_export.probe_onnx(onnx_path)
        graph = onnx.load(str(onnx_path))
        onnx_graph.set_metadata(graph, {"vomid_source": source, "vomid_random_weights": str(request.random_weights),
                                        "vomid_embedding_dim": str(dim)})
        onnx.save(graph, str(onnx_path))
        int8_cosines = []
        if request.precision == "int8":
            int8_path = Path(tmp) / "model.int8.onnx"
            int8_cosines = quantize.export_int8(onnx_path, int8_path, enforce=not request.random_weights)
            onnx_path = int8_path
        threshold, how = _campplus_threshold(request, onnx_path, dim)  # of the graph that is served
        model_file, torchscript_cosines = onnx_path, []
        if request.repository.target == "tensorrt":
            model_file = tensorrt.build_plan(onnx_path, Path(tmp) / "model.plan", fp16=request.fp16)
        elif request.repository.target == "libtorch":
            model_file = Path(tmp) / "model.pt"
            torchscript_cosines = torchscript.export_torchscript(model, model_file)
        manifest = Manifest(embedding_dim=dim, source=source, random_weights=request.random_weights,
                            target=request.repository.target, model_sha256=sources.sha256_file(onnx_path),
                            parity_cosines=cosines, model_name=CAMPPLUS.name, weights_sha256=weights_sha,
                            recommended_threshold=threshold, threshold_source=how,
                            precision=request.precision, int8_cosines=int8_cosines,
                            torchscript_cosines=torchscript_cosines)
        write_repository(request.output, model_file, manifest, request.repository)
        log.info("model repository written to %s (embedding dim %d, source %s)", request.output, dim, source)
        return manifest


def check_precision(request: ExportRequest) -> None:
    """int8 is CAM++ through onnxruntime only: refused before any work for the combinations that lack it."""
    if request.precision not in quantize.PRECISIONS:
        raise ExportError(f"precision must be one of {', '.join(quantize.PRECISIONS)}, got {request.precision!r}")
    if request.precision != "int8":
        return
    if request.model != CAMPPLUS.name:
        raise ExportError(f"--precision int8 is for CAM++ only: {request.model}'s LSTMs have no static int8 kernels "
                          "in onnxruntime")
    if request.repository.target == "tensorrt":
        raise ExportError("--precision int8 quantises for onnxruntime (targets cpu and onnx-gpu); TensorRT builds its "
                          "own reduced-precision engine: use --target tensorrt --fp16")
    if request.repository.target == "libtorch":
        raise ExportError("--precision int8 quantises for onnxruntime (targets cpu and onnx-gpu); the libtorch target "
                          "serves the fp32 TorchScript trace")


def check_target(request: ExportRequest) -> None:
    """Combinations a target lacks, refused before any work."""
    target = request.repository.target
    if target == "libtorch" and request.onnx:
        raise ExportError("--target libtorch traces the PyTorch model: give the CAM++ checkpoint, not --onnx")
    if request.fp16 and target != "tensorrt":
        raise ExportError(f"--fp16 builds a TensorRT engine: it needs --target tensorrt, not {target}")
    if request.repository.front_end == "torch" and request.model != CAMPPLUS.name:
        raise ExportError(f"--front-end torch is CAM++'s Kaldi fbank in torch; {request.model} has its own front end")


def _campplus_threshold(request: ExportRequest, onnx_path: Path, dim: int) -> tuple[float | None, str]:
    if request.random_weights:
        return None, "none: random weights recognise no one"
    fallback, card = CARD_THRESHOLDS.get(dim, CARD_THRESHOLDS[512])
    if not request.calibrate:
        return fallback, card
    from engine.local_pipeline import LocalPipeline

    return calibration.recommended_threshold(LocalPipeline(CAMPPLUS.name, onnx_path).embed, fallback, card)


def _export_checked(model, onnx_path: Path) -> list[float]:
    onnx_export.export_torch(model, onnx_path)
    return onnx_export.check_parity(model, onnx_path)


__all__ = ["ExportRequest", "ExportError", "run_export", "resolve_weights"]
