"""Schemathesis hooks for the API fuzz run (loaded through SCHEMATHESIS_HOOKS by tests/router/test_openapi_fuzz.py).

A schema says what a request looks like, not that its `audio` part is speech: random bytes are refused as
`unsupported_format` (422), rightly. So right before each request is sent (when the state machine has filled in ids
from earlier answers), a generated binary `audio` is swapped for real speech (a clip from VOIMID_FUZZ_AUDIO_DIR, in
one of several formats), and so is a whole body sent as the file (application/octet-stream). Then a valid request
must get 2xx, and an invalid one must be refused for the field that is invalid, never for noise posing as audio. An
`audio` generated as something else than bytes (the one way a schema can make it invalid) is left as it is.

Schemathesis cannot judge a body holding bytes (it calls every edited one invalid, and cannot tell that an "invalid"
null for a text field goes out as the valid text "null"); the hook judges it instead: a body whose other fields
satisfy the schema as the router reads them, with speech as its audio, is valid.
A valid Idempotency-Key is made the case's own, since a key reused for another request is correctly refused (422);
the same case sent twice keeps its key and gets the stored reply. Every choice is a function of the case, so
Hypothesis replays and shrinks it faithfully.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import schemathesis
import jsonschema_rs
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transforms import to_wire_text
from schemathesis.generation import GenerationMode
from schemathesis.generation.meta import ComponentInfo, CoverageScenario, coverage_scenario
from schemathesis.transport.serialization import Binary

from router.limits import INTEGER, NUMBER

CLIPS = [path.read_bytes() for path in sorted(Path(os.environ["VOIMID_FUZZ_AUDIO_DIR"]).iterdir())]
IDEMPOTENCY = "Idempotency-Key"
BODY = ParameterLocation.BODY


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def _as_read(value: object, schema: dict) -> object:
    """A generated field value as the router reads it: the text of one part, typed as the schema declares.
    (Numbers must be spelled as numbers: "5.0" is no integer on the wire, whatever JSON Schema says of 5.0.)"""
    text = to_wire_text(value)
    kind = schema.get("type")
    pattern = INTEGER if kind == "integer" else NUMBER if kind == "number" else None
    if pattern is not None:
        return json.loads(text) if pattern.fullmatch(text) else text
    if kind == "object":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _others_valid(operation, body: dict) -> bool:
    """Whether every field but `audio` (and the set of fields itself) satisfies the body's schema as the router
    reads it: a list goes out as one part per item ([] sends nothing, [x] sends x), every part as text."""
    schema = operation.body[0].raw_schema
    properties = {k: v for k, v in schema.get("properties", {}).items() if k != "audio"}
    others = {**schema, "properties": properties,
              "required": [name for name in schema.get("required", []) if name != "audio"]}
    sent = {}
    for name, value in body.items():
        if name == "audio" or value == []:
            continue
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        sent[name] = value if isinstance(value, list) else _as_read(value, properties.get(name, {}))
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


def _give_raw_speech(case) -> None:
    """A whole body that is the file (application/octet-stream): speech in its place, judged valid."""
    body = CLIPS[_digest(case.body)[0] % len(CLIPS)]
    meta = case._meta
    object.__setattr__(case, "body", body)
    meta.update_validated_hash(BODY, case._hash_container(body))
    meta.components[BODY] = ComponentInfo(mode=GenerationMode.POSITIVE)
    meta.clear_dirty(BODY)
    if all(info.mode.is_positive for info in meta.components.values()):
        meta.generation.mode = GenerationMode.POSITIVE


@schemathesis.hook
def before_call(context, case, kwargs):
    if case._meta is None:
        return
    if isinstance(case.body, dict) and isinstance(case.body.get("audio"), (bytes, Binary)):
        _give_speech(case)
    elif isinstance(case.body, (bytes, Binary)) and case.media_type == "application/octet-stream":
        _give_raw_speech(case)
    header = case._meta.components.get(ParameterLocation.HEADER)
    if case.headers and IDEMPOTENCY in case.headers and (header is None or header.mode.is_positive):
        key = case.headers[IDEMPOTENCY]
        case.headers = {**case.headers, IDEMPOTENCY: (_digest(key, case.body, case.path_parameters).hex() + key)[:255]}
