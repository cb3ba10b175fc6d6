"""Which Triton errors reject the input and which blame the instance."""
import pytest
from tritonclient.utils import InferenceServerException

from router.balancer.outcome import Outcome, classify


@pytest.mark.parametrize("status, message, outcome", [
    ("StatusCode.INVALID_ARGUMENT", "waveform too short: 100 samples give 0 frames", Outcome.REJECTED),
    ("StatusCode.INTERNAL", "waveform too short: a model that forgot its error code", Outcome.ERROR),
    ("StatusCode.RESOURCE_EXHAUSTED", "out of memory", Outcome.EXHAUSTED),
    ("StatusCode.INVALID_ARGUMENT", "unexpected shape for input 'waveform'", Outcome.REJECTED),
    ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", Outcome.UNAVAILABLE),
    ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", Outcome.TIMEOUT),
    ("StatusCode.INTERNAL", "Stub process is not healthy", Outcome.ERROR),
    ("StatusCode.NOT_FOUND", "Request for unknown model", Outcome.ERROR),
])
def test_classify(status, message, outcome):
    assert classify(InferenceServerException(msg=message, status=status)) is outcome
