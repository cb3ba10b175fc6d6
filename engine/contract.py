"""The served model's contract: model and tensor names, dtypes, and how a model refuses bad input.

One place for the names the repository writer puts in the Triton configs, the python-backend models read, and the
benchmarks and tests send. Clients outside the engine (router, SDK) learn tensor names from the server's metadata;
they only need ENSEMBLE_MODEL and the rejection status below.

Every model family serves the same ensemble interface: `speaker`, input `waveform` (B, N) float32 16 kHz mono,
output `embedding` (B, D) float32 unit vectors. Behind it, each family has its own features and embedding models.
"""
from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATE = 16000
ENSEMBLE_MODEL = "speaker"
WAVEFORM = "waveform"
EMBEDDING = "embedding"
WAVEFORM_DTYPE = "FP32"  # Triton's name; numpy float32
EMBEDDING_DTYPE = "FP32"

# A model refuses bad input (too short, silent, not finite) with pb_utils.TritonError(message, INVALID_ARG).
# Triton keeps the code through the ensemble; clients see it as a status, so nobody matches message text:
REJECT_CODE = "INVALID_ARG"  # the name of the pb_utils.TritonError code the python models raise
GRPC_REJECT_STATUS = "StatusCode.INVALID_ARGUMENT"  # tritonclient.grpc InferenceServerException.status()
HTTP_REJECT_STATUS = "400"  # tritonclient.http InferenceServerException.status()


class InputRejected(ValueError):
    """The model cannot embed this input (a fault of the input, not of the server): INVALID_ARG to the client."""


@dataclass(frozen=True)
class ModelFamily:
    """The names of one model family's Triton models and internal tensors."""

    name: str  # what --model takes and the manifest records
    title: str  # for people
    features_model: str
    embedding_model: str
    features_tensor: str  # features model output = embedding model input
    features_dims: tuple[int, ...]  # per batch row; -1 is variable
    partials_tensor: str | None = None  # GE2E: valid partial windows per row (the rest is padding)


CAMPPLUS = ModelFamily(name="campplus", title="CAM++", features_model="fbank", embedding_model="campplus",
                       features_tensor="fbank", features_dims=(-1, 80))
GE2E = ModelFamily(name="ge2e", title="GE2E (Resemblyzer)", features_model="ge2e_mel", embedding_model="ge2e",
                   features_tensor="mel", features_dims=(-1, 160, 40), partials_tensor="partials")
FAMILIES = {family.name: family for family in (CAMPPLUS, GE2E)}
DEFAULT_FAMILY = CAMPPLUS.name
PARTIALS_DTYPE = "INT32"


def family(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(FAMILIES)}") from None


def model_id(name: str, weights_sha256: str) -> str:
    """What voiceprints are tagged with: embeddings of two different ids are not comparable."""
    return f"{name}:{weights_sha256}"
