"""Why a file cannot be used as speech, as a stable machine-readable code (no transport status in here)."""
from __future__ import annotations

CODES = ("empty_audio", "unsupported_format", "corrupt_audio", "audio_too_short", "audio_too_long",
         "silent_audio", "audio_too_complex")


class AudioError(ValueError):
    """`code` is one of CODES; `message` says what is wrong in words a client can act on."""

    def __init__(self, message: str, code: str):
        assert code in CODES, code
        super().__init__(message)
        self.message, self.code = message, code
