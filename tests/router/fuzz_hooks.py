"""Schemathesis hooks for the API fuzz run (loaded through SCHEMATHESIS_HOOKS by tests/router/test_openapi_fuzz.py).

A schema says what a request looks like, not that its `audio` part is speech: random bytes are refused as
`unsupported_format` (422), rightly. So right before each request is sent (when the state machine has filled in
ids from earlier answers), a generated binary `audio` is swapped for real speech (a clip from VOMID_FUZZ_AUDIO_DIR,
in one of several formats). Then a valid request must get 2xx, and an invalid one must be refused for the field
that is invalid, never for noise posing as audio. An `audio` generated as something else than bytes (the one way a
schema can make it invalid) is left as it is.

Schemathesis cannot judge a body holding bytes, so it calls every edited one invalid; the hook judges it instead:
a body whose other fields satisfy the schema as sent, with speech as its audio, is valid.
A valid Idempotency-Key is made the case's own, since a key reused for another request is correctly refused (422);
the same case sent twice keeps its key and gets the stored reply. Every choice is a function of the case, so
Hypothesis replays and shrinks it faithfully.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import schemathesis
import jsonschema_rs
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import ComponentInfo, CoverageScenario, coverage_scenario
from schemathesis.transport.serialization import Binary

CLIPS = [path.read_bytes() for path in sorted(Path(os.environ["VOMID_FUZZ_AUDIO_DIR"]).iterdir())]
IDEMPOTENCY = "Idempotency-Key"
BODY = ParameterLocation.BODY


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def _others_valid(operation, body: dict) -> bool:
    """Whether every field but `audio` (and the set of fields itself) satisfies the body's schema as sent: a list
    goes out as one part per item, so [] sends nothing and [x] sends x."""
    schema = operation.body[0].raw_schema
    others = {**schema, "properties": {k: v for k, v in schema.get("properties", {}).items() if k != "audio"},
              "required": [name for name in schema.get("required", []) if name != "audio"]}
    sent = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in body.items()
            if k != "audio" and v != []}
    return jsonschema_rs.Draft7Validator(others).is_valid(sent)


def _give_speech(case) -> None:
    body = {**case.body, "audio": CLIPS[_digest(case.body)[0] % len(CLIPS)]}
    meta = case._meta  # not `.meta`: reading it re-judges the edited body at once
    object.__setattr__(case, "body", body)  # not `case.body =`: that marks the body edited, judged invalid
    meta.update_validated_hash(BODY, case._hash_container(body))
    if not _others_valid(case.operation, body):
        return
    meta.components[BODY] = ComponentInfo(mode=GenerationMode.POSITIVE)
    meta.clear_dirty(BODY)  # edits made before this hook (ids the state machine filled in) are judged now
    if coverage_scenario(case) != CoverageScenario.UNSPECIFIED_HTTP_METHOD and all(
            info.mode.is_positive for info in meta.components.values()):
        meta.generation.mode = GenerationMode.POSITIVE


@schemathesis.hook
def before_call(context, case, kwargs):
    if case._meta is None:
        return
    if isinstance(case.body, dict) and isinstance(case.body.get("audio"), (bytes, Binary)):
        _give_speech(case)
    header = case._meta.components.get(ParameterLocation.HEADER)
    if case.headers and IDEMPOTENCY in case.headers and (header is None or header.mode.is_positive):
        key = case.headers[IDEMPOTENCY]
        case.headers = {**case.headers, IDEMPOTENCY: (_digest(key, case.body, case.path_parameters).hex() + key)[:255]}
