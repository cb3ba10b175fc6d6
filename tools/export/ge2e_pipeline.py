"""One GE2E export: Resemblyzer's packaged weights -> ONNX -> self-check against VoiceEncoder -> Triton repository."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import onnx

from engine.contract import GE2E
from tools.export import calibration, ge2e, ge2e_check, onnx_graph
from tools.export.errors import ExportError
from tools.export.repository import Manifest, write_repository
from tools.export.sources import sha256_file

log = logging.getLogger(__name__)

# Used where the shared speech is absent at export. Measured here with tools.export.calibration on ../shared/audio
# (80 utterances, 13 speakers, 3,160 trials) with the packaged Resemblyzer 0.1.4 weights: EER 0.67 % at this cosine.
GE2E_THRESHOLD = 0.7142
GE2E_THRESHOLD_SOURCE = ("documented constant: the EER threshold measured on ../shared/audio (80 utterances, "
                         "3160 trials, EER 0.67%) during development; no shared speech at export")


def export_ge2e(request) -> Manifest:
    _check_request(request)
    weights = request.checkpoint or ge2e.packaged_weights()
    weights_sha = sha256_file(weights)
    if weights_sha != ge2e.KNOWN_SHA256:
        log.warning("%s is not Resemblyzer 0.1.4's pretrained.pt (sha256 %s): the self-check decides", weights,
                    weights_sha)
    model = ge2e.load_ge2e(weights)
    source = f"resemblyzer:{weights.name}" if request.checkpoint is None else f"checkpoint:{weights}"
    with tempfile.TemporaryDirectory(prefix="vomid-export-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        ge2e.export_onnx(model, onnx_path)
        cosines = ge2e_check.check_against_resemblyzer(onnx_path, weights)
        graph = onnx.load(str(onnx_path))
        onnx_graph.set_metadata(graph, {"vomid_source": source, "vomid_model": GE2E.name,
                                        "vomid_random_weights": "False", "vomid_embedding_dim": str(ge2e.EMBEDDING_DIM)})
        onnx.save(graph, str(onnx_path))
        threshold, how = _threshold(request, onnx_path)
        manifest = Manifest(embedding_dim=ge2e.EMBEDDING_DIM, source=source, random_weights=False, target="cpu",
                            model_sha256=sha256_file(onnx_path), parity_cosines=cosines, model_name=GE2E.name,
                            weights_sha256=weights_sha, recommended_threshold=threshold, threshold_source=how)
        write_repository(request.output, onnx_path, manifest, request.repository)
    log.info("GE2E model repository written to %s (threshold %.4f: %s)", request.output, threshold, how)
    return manifest


def _threshold(request, onnx_path: Path) -> tuple[float, str]:
    if not request.calibrate:
        return GE2E_THRESHOLD, GE2E_THRESHOLD_SOURCE
    return calibration.recommended_threshold(ge2e_check.served_pipeline(onnx_path), GE2E_THRESHOLD,
                                             GE2E_THRESHOLD_SOURCE)


def _check_request(request) -> None:
    if request.repository.target != "cpu":
        raise ExportError("GE2E is served on the cpu target only (python backend + onnxruntime): "
                          f"--target {request.repository.target} is for CAM++")
    others = {"--model-id": request.model_id, "--model-dir": request.model_dir, "--onnx": request.onnx,
              "--random-weights": request.random_weights}
    given = [flag for flag, value in others.items() if value]
    if given:
        raise ExportError(f"--model ge2e takes its weights from the installed Resemblyzer package "
                          f"(or --checkpoint FILE): {', '.join(given)} is for CAM++")
