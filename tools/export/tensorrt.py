"""Builds a TensorRT plan from the served ONNX graph (GPU hosts), with the `tensorrt` package or `trtexec`."""
from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.export.errors import ExportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """Optimisation profile over (batch, frames): 1 s .. 30 s utterances."""
    min_frames: int = 98
    opt_frames: int = 298
    max_frames: int = 2998
    opt_batch: int = 16
    max_batch: int = 64

    def shapes(self) -> dict[str, tuple[int, int, int]]:
        return {"min": (1, self.min_frames, 80), "opt": (self.opt_batch, self.opt_frames, 80),
                "max": (self.max_batch, self.max_frames, 80)}


def available() -> str | None:
    try:
        import tensorrt  # noqa: F401
        return "tensorrt"
    except ImportError:
        return "trtexec" if shutil.which("trtexec") else None


def trtexec_command(onnx_path: Path, plan_path: Path, profile: Profile, fp16: bool) -> list[str]:
    shapes = profile.shapes()
    fmt = lambda s: "fbank:" + "x".join(map(str, s))  # noqa: E731
    command = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={plan_path}",
               f"--minShapes={fmt(shapes['min'])}", f"--optShapes={fmt(shapes['opt'])}",
               f"--maxShapes={fmt(shapes['max'])}"]
    return command + (["--fp16"] if fp16 else [])


def build_plan(onnx_path: Path, plan_path: Path, profile: Profile = Profile(), fp16: bool = False) -> Path:
    tool = available()
    if tool is None:
        raise ExportError("--target tensorrt needs the tensorrt Python package or trtexec (GPU hosts only)")
    if tool == "trtexec":
        result = subprocess.run(trtexec_command(onnx_path, plan_path, profile, fp16), capture_output=True, text=True)
        if result.returncode != 0:
            raise ExportError(f"trtexec failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return plan_path
    return _build_with_python(onnx_path, plan_path, profile, fp16)


def _build_with_python(onnx_path: Path, plan_path: Path, profile: Profile, fp16: bool) -> Path:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError("TensorRT could not parse the ONNX graph: " + "; ".join(errors))
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    shapes = profile.shapes()
    optimisation = builder.create_optimization_profile()
    optimisation.set_shape("fbank", shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(optimisation)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise ExportError("TensorRT failed to build the engine (see the log above)")
    plan_path.write_bytes(bytes(engine))
    log.info("TensorRT plan written to %s", plan_path)
    return plan_path
