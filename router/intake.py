"""Reads and validates a multipart request at the edge: byte caps before and while reading, then typed fields.

The body limit is enforced twice: from Content-Length before anything is read, and again while streaming each
part (a client may lie or use chunked encoding). Nothing past the cap is buffered.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from router.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

AUDIO_FIELD = "audio"
# Multipart framing and the small text fields ride on top of the audio limit.
FRAMING_ALLOWANCE = 256 * 1024
MAX_PARTS = 16
CHUNK = 64 * 1024
# Deeper JSON than this is no metadata anyone needs, and would exhaust recursion wherever it is serialised.
MAX_JSON_DEPTH = 16


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    audio: bytes | None = None
    filename: str | None = None

    def require_audio(self) -> bytes:
        if self.audio is None:
            raise BadRequest("the 'audio' file field is required", code="missing_field")
        return self.audio

    def text(self, name: str, *, required: bool = False, max_length: int = 256) -> str | None:
        value = self.fields.get(name)
        if value is None or value.strip() == "":
            if required:
                raise BadRequest(f"the '{name}' field is required", code="missing_field")
            return None
        value = value.strip()
        if len(value) > max_length:
            raise BadRequest(f"'{name}' is longer than {max_length} characters", code="invalid_field")
        if any(ord(c) < 32 for c in value):
            raise BadRequest(f"'{name}' holds control characters", code="invalid_field")
        return value

    def number(self, name: str, *, low: float, high: float) -> float | None:
        raw = self.text(name, max_length=32)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise BadRequest(f"'{name}' must be a number", code="invalid_field") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise BadRequest(f"'{name}' must be between {low:g} and {high:g}", code="invalid_field")
        return value

    def integer(self, name: str, *, low: int, high: int) -> int | None:
        raw = self.text(name, max_length=16)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"'{name}' must be an integer", code="invalid_field") from None
        if not low <= value <= high:
            raise BadRequest(f"'{name}' must be between {low} and {high}", code="invalid_field")
        return value

    def json_object(self, name: str) -> dict | None:
        raw = self.text(name, max_length=1 << 20)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest(f"'{name}' is not valid JSON", code="invalid_field") from None
        if not isinstance(value, dict):
            raise BadRequest(f"'{name}' must be a JSON object", code="invalid_field")
        if json_depth(value) > MAX_JSON_DEPTH:
            raise BadRequest(f"'{name}' is nested more than {MAX_JSON_DEPTH} levels deep", code="invalid_field")
        return value


def json_depth(value) -> int:
    """Nesting depth of parsed JSON, without recursion (so any depth json.loads accepted is measured safely)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


async def read_form(request: web.Request, max_audio_bytes: int, max_field_bytes: int) -> Form:
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data with an 'audio' file field",
                                   code="unsupported_media_type")
    limit = max_audio_bytes + FRAMING_ALLOWANCE
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body over {max_audio_bytes // (1024 * 1024)} MB", code="payload_too_large")
    form = Form()
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS + 1):
            part = await reader.next()
            if part is None:
                return form
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart is not accepted", code="malformed_body")
            if len(form.fields) + (form.audio is not None) >= MAX_PARTS:
                break
            await _read_part(part, form, max_audio_bytes, max_field_bytes)
    except (ValueError, AssertionError, UnicodeDecodeError, LookupError, HttpProcessingError) as exc:
        # aiohttp's multipart parser reports broken framing (and bad part headers) with these.
        raise BadRequest(f"malformed multipart body: {str(exc).strip()[:120]}", code="malformed_body") from None
    raise BadRequest(f"more than {MAX_PARTS} form fields", code="malformed_body")


async def _read_part(part: BodyPartReader, form: Form, max_audio_bytes: int, max_field_bytes: int) -> None:
    name = part.name
    if not name:
        raise BadRequest("a form part has no name", code="malformed_body")
    is_audio = name == AUDIO_FIELD
    if is_audio and form.audio is not None or not is_audio and name in form.fields:
        raise BadRequest(f"the '{name}' field is given twice", code="malformed_body")
    cap = max_audio_bytes if is_audio else max_field_bytes
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > cap:
            what = f"audio over {max_audio_bytes // (1024 * 1024)} MB" if is_audio else \
                f"field '{name}' over {max_field_bytes // 1024} KB"
            raise PayloadTooLarge(what, code="payload_too_large")
    if is_audio:
        form.audio, form.filename = bytes(data), part.filename
    else:
        try:
            form.fields[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"field '{name}' is not UTF-8 text", code="invalid_field") from None
