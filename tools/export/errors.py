"""Errors the export tool reports to the operator (printed without a traceback, exit code 2)."""


class ExportError(Exception):
    """A problem the operator can fix: bad input, missing weights, failed self-check."""


class WeightsUnavailable(ExportError):
    """No weights could be found or downloaded."""

    HOW_TO = (
        "Supply CAM++ weights in one of these ways:\n"
        "  --model-id iic/speech_campplus_sv_zh-cn_3dspeaker_16k   download from ModelScope (needs network)\n"
        "  --model-dir DIR        a ModelScope snapshot already on disk (configuration.json + *.bin)\n"
        "  --checkpoint FILE      a CAM++ PyTorch state dict (.bin/.pt), e.g. campplus_cn_3dspeaker.bin\n"
        "  --onnx FILE            an existing CAM++ ONNX file with input fbank (B, T, 80)\n"
        "  VOIMID_MODEL_PATH=PATH any of the files/directories above, from the environment\n"
        "Or serve the other model family, whose weights ship on PyPI (no hub needed):\n"
        "  --model ge2e           Resemblyzer's GE2E speaker encoder (pip install 'edge-vomid[export]')\n"
        "For tests and demos only: --random-weights builds an untrained network (never use it for real users)."
    )

    def __init__(self, reason: str):
        super().__init__(f"{reason}\n{self.HOW_TO}")


class CheckpointError(ExportError):
    """A file that is not a usable CAM++ checkpoint."""


class ParityError(ExportError):
    """The exported model does not reproduce the PyTorch embeddings."""
