"""int8 CAM++ for CPU hosts: onnxruntime static quantisation (QDQ), calibrated and checked on real speech.

Calibration runs the fp32 graph over fbank of real speech (the shared speech when present, else the utterance
shipped with the export) to fix each activation's int8 range; weights get one scale per output channel. Only Conv
(and MatMul/Gemm) are quantised: ReLU, batch-norm, the context masks and the dense blocks' concatenations stay fp32,
because a per-tensor int8 range over a concatenation of features with very different ranges loses the small ones.

The self-check embeds held-out speech (utterances the calibration never saw, and the shipped utterance at 1-30 s)
with both graphs; the variant is written only when every utterance's cosine to fp32 reaches MIN_COSINE, which is
also what lets int8 and fp32 voiceprints of the same weights score against each other.
"""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from engine.features import FbankExtractor
from tools.export import calibration, onnx_export, onnx_graph
from tools.export.errors import ExportError
from tools.export.real_speech import CHECK_SECONDS, speech_of_lengths

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8")
MIN_COSINE = 0.99
CALIBRATION_FRAMES = 298  # 3 s of fbank: the typical request, and one shape for every calibration batch
CALIBRATION_BATCH = 8
MAX_CALIBRATION_CROPS = 64  # enough for stable min/max ranges; each crop costs one fp32 forward pass
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm"]


class QuantizationError(ExportError):
    """The int8 graph strays too far from fp32 on real speech: it is not written."""


class _Batches(CalibrationDataReader):
    def __init__(self, batches: list[np.ndarray]):
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {onnx_graph.INPUT_NAME: batch}


def speech_sets() -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(calibration waveforms, held-out check waveforms, where they came from), all real speech at 16 kHz."""
    shipped = speech_of_lengths(CHECK_SECONDS)
    listing = calibration.shared_audio()
    if listing is None:
        # No shared speech: calibrate on the shipped utterance's first 30 s, check on it at every served length.
        return shipped[-1:], shipped, "the shipped LibriSpeech utterance (no ../shared/audio)"
    waves = [wave for wave, _ in calibration.load_listing(listing)]
    return waves[0::2], waves[1::2] + shipped, f"{listing.parent} (even rows calibrate, odd rows check)"


def calibration_batches(waves: list[np.ndarray]) -> list[np.ndarray]:
    """Fbank crops of CALIBRATION_FRAMES from every utterance, evenly thinned to the cap, in fixed-size batches."""
    extractor = FbankExtractor()
    crops = []
    for wave in waves:
        feats = extractor(wave)
        crops += [feats[start:start + CALIBRATION_FRAMES]
                  for start in range(0, len(feats) - CALIBRATION_FRAMES + 1, CALIBRATION_FRAMES)]
    if not crops:
        raise ExportError(f"no calibration speech of at least {CALIBRATION_FRAMES} frames")
    keep = np.linspace(0, len(crops) - 1, min(len(crops), MAX_CALIBRATION_CROPS)).round().astype(int)
    chosen = np.stack([crops[i] for i in sorted(set(keep))])
    return [chosen[i:i + CALIBRATION_BATCH] for i in range(0, len(chosen), CALIBRATION_BATCH)]


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs hundreds of lines per graph on the root logger (one per bias copied)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize(fp32_path: Path, int8_path: Path, batches: list[np.ndarray]) -> None:
    """Writes the QDQ int8 graph of `fp32_path`, activation ranges from `batches`."""
    with tempfile.TemporaryDirectory(prefix="vomid-int8-") as tmp, _quiet_root_logger():
        prepared = Path(tmp) / "prepared.onnx"
        # CAM++'s time-dependent pooling defeats symbolic shape inference; ONNX's own inference is enough here.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(int8_path), _Batches(batches), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=QUANTIZED_OPS)


def cosines_to_fp32(fp32_path: Path, int8_path: Path, waves: list[np.ndarray]) -> list[float]:
    """Per utterance, the cosine between the int8 and the fp32 embedding (both unit vectors)."""
    extractor = FbankExtractor()
    reference, candidate = onnx_export.session(fp32_path), onnx_export.session(int8_path)
    cosines = []
    for wave in waves:
        feed = {onnx_graph.INPUT_NAME: extractor(wave)[None]}
        a = reference.run([onnx_graph.OUTPUT_NAME], feed)[0][0]
        b = candidate.run([onnx_graph.OUTPUT_NAME], feed)[0][0]
        cosines.append(float(a @ b))
    return cosines


def export_int8(fp32_path: Path, int8_path: Path, enforce: bool = True) -> list[float]:
    """Quantises and checks; returns the per-utterance cosines. QuantizationError (nothing written) when a cosine
    misses MIN_COSINE and `enforce` is set (it is off only for random weights, which recognise no one anyway)."""
    calibrate_on, check_on, where = speech_sets()
    quantize(fp32_path, int8_path, calibration_batches(calibrate_on))
    cosines = cosines_to_fp32(fp32_path, int8_path, check_on)
    worst, median = min(cosines), float(np.median(cosines))
    log.info("int8 vs fp32 cosine on %d held-out utterances from %s: min %.4f, median %.4f",
             len(cosines), where, worst, median)
    if worst < MIN_COSINE:
        message = (f"the int8 graph differs from fp32 on real speech: cosine min {worst:.4f}, median {median:.4f} "
                   f"over {len(cosines)} utterances (needs >= {MIN_COSINE} for every one)")
        if enforce:
            int8_path.unlink(missing_ok=True)
            raise QuantizationError(f"{message}; serve fp32 (--precision fp32) instead")
        log.warning("%s; written anyway: random weights amplify any rounding (their int8 accuracy says nothing "
                    "about a trained network's)", message)
    return cosines
