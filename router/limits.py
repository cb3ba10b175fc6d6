"""What the API accepts, in one place: limits from the running config, and the patterns fields must match.

The intake validates with these values and patterns, and the OpenAPI document publishes the very same ones, so the
spec cannot drift from what the router does (tests/router/test_openapi_fuzz.py fuzzes the two against each other).
Patterns use only explicit character classes: Python's `re`, ECMA 262 (JSON Schema) and Rust's regex read them
alike.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from audio.decode import MAX_CHANNELS, MAX_RATE, MIN_RATE
from router.config import RouterConfig
from store.validation import USER_ID_PATTERN

# No C0 control character or DEL anywhere, and at least one character that is neither those nor a space.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, as the IETF draft's examples
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"  # an incoming X-Request-ID is kept only when it matches
# Numbers as a client writes them in a form field or a query (JSON's spelling; leading zeros tolerated).
INTEGER_PATTERN = r"^-?[0-9]+$"
NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
USER_ID_RULE = "1-128 characters of A-Z a-z 0-9 _ . : @ -"  # USER_ID_PATTERN in words
MAX_USER_ID = 128
# `/api/v1/voiceprint/<word>` names another operation for these words, so they are no user's id in that path.
RESERVED_USER_IDS = ("register", "verify", "identify")

MAX_OFFSET = 10**9
MAX_PAGE = 1000  # the store's own cap on one page
DEFAULT_PAGE = 50

USER_ID = re.compile(USER_ID_PATTERN)
NAME = re.compile(NAME_PATTERN)
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
INTEGER = re.compile(INTEGER_PATTERN)
NUMBER = re.compile(NUMBER_PATTERN)


@dataclass(frozen=True)
class ApiLimits:
    """The configured limits of one running router (hashable: the spec built from them is cached)."""

    max_upload_bytes: int
    max_field_bytes: int
    min_seconds: float
    max_seconds: float
    max_name_chars: int
    max_metadata_depth: int
    default_top_k: int
    max_top_k: int
    score_decimals: int
    body_timeout_s: float
    max_enrollments: int

    @classmethod
    def from_config(cls, config: RouterConfig) -> "ApiLimits":
        api, verify = config.api, config.verify
        return cls(max_upload_bytes=api.max_upload_bytes, max_field_bytes=api.max_field_kb * 1024,
                   min_seconds=api.min_seconds, max_seconds=api.max_seconds, max_name_chars=api.max_name_chars,
                   max_metadata_depth=api.max_metadata_depth, default_top_k=verify.default_top_k,
                   max_top_k=verify.max_top_k, score_decimals=verify.score_decimals,
                   body_timeout_s=config.overload.body_timeout_s,
                   max_enrollments=config.storage.max_enrollments)

    @property
    def upload_mb(self) -> str:
        return f"{self.max_upload_bytes / (1024 * 1024):g} MB"

    def audio_text(self) -> str:
        """What an `audio` part may hold, in words (the spec's description and the README read this)."""
        return (f"WAV, FLAC, MP3, OGG (Vorbis/Opus) or M4A/AAC; {MIN_RATE}-{MAX_RATE} Hz, 1-{MAX_CHANNELS} channels "
                f"(mixed to mono, resampled to 16 kHz); {self.min_seconds:g}-{self.max_seconds:g} s, not silent; "
                f"at most {self.upload_mb}")

