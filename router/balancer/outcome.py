"""Sorts a Triton error into what the pool does with it: reject the input, or blame the instance and retry."""
from __future__ import annotations

import enum

from tritonclient.utils import InferenceServerException

from engine.contract import GRPC_REJECT_STATUS



class Outcome(str, enum.Enum):
    OK = "ok"
    REJECTED = "rejected"      # the model refused this input: not retried, not the instance's fault
    TIMEOUT = "timeout"        # no answer within the call's deadline
    UNAVAILABLE = "unavailable"  # connection refused or dropped, or Triton's queue full
    EXHAUSTED = "exhausted"    # the server says it has no room (RESOURCE_EXHAUSTED): overload, never a fault
    ERROR = "error"            # any other server-side failure (a crashed stub, a missing model)

    @property
    def may_be_overload(self) -> bool:
        """A busy server times out and refuses too: whether that is a fault depends on whether it still answers."""
        return self in (Outcome.TIMEOUT, Outcome.UNAVAILABLE, Outcome.EXHAUSTED)


def classify(error: InferenceServerException) -> Outcome:
    status = error.status() or ""
    if status == GRPC_REJECT_STATUS:  # the models refuse bad input with INVALID_ARG, kept through the ensemble
        return Outcome.REJECTED
    if status == "StatusCode.DEADLINE_EXCEEDED":
        return Outcome.TIMEOUT
    if status == "StatusCode.RESOURCE_EXHAUSTED":
        return Outcome.EXHAUSTED
    if status == "StatusCode.UNAVAILABLE":
        return Outcome.UNAVAILABLE
    return Outcome.ERROR
