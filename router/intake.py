"""Reads and validates a multipart request at the edge: byte caps before and while reading, then typed fields.

The body limit is enforced twice: from Content-Length before anything is read, and again while streaming each
part (a client may lie or use chunked encoding). Nothing past the cap is buffered. A part whose name the operation
does not take is refused before its body is read, so a typo ("treshold") is an error, never a silent default.
Fields are checked with the patterns and limits of `router.limits`, which the OpenAPI document publishes.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from router import limits as lim
from router.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

AUDIO_FIELD = "audio"
# Multipart framing and the small text fields ride on top of the audio limit.
FRAMING_ALLOWANCE = 256 * 1024
CHUNK = 64 * 1024


def invalid(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_field")


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    audio: bytes | None = None
    filename: str | None = None

    def require_audio(self) -> bytes:
        if self.audio is None:
            raise BadRequest("the 'audio' file field is required", code="missing_field")
        return self.audio

    def text(self, name: str, *, pattern: re.Pattern, max_length: int, what: str,
             required: bool = False) -> str | None:
        """The field without surrounding spaces; a field that is sent must be valid, even an optional one."""
        value = self.fields.get(name)
        if value is None or required and value.strip(" ") == "":
            if required:
                raise BadRequest(f"the '{name}' field is required", code="missing_field")
            return None
        if len(value) > max_length:
            raise invalid(f"'{name}' is longer than {max_length} characters")
        if not pattern.fullmatch(value):
            raise invalid(f"'{name}' must be {what}")
        return value.strip(" ")

    def number(self, name: str, *, low: float, high: float) -> float | None:
        raw = self.fields.get(name)
        if raw is None:
            return None
        value = float(raw) if lim.NUMBER.fullmatch(raw) else math.nan
        if not math.isfinite(value) or not low <= value <= high:
            raise invalid(f"'{name}' must be a number between {low:g} and {high:g}")
        return value

    def integer(self, name: str, *, low: int, high: int) -> int | None:
        raw = self.fields.get(name)
        return None if raw is None else parse_integer(raw, name, low, high, code="invalid_field")

    def json_object(self, name: str, *, max_depth: int) -> dict | None:
        raw = self.fields.get(name)
        if raw is None:
            return None
        try:
            value = json.loads(raw, parse_constant=_not_json)
        except (ValueError, RecursionError):
            raise invalid(f"'{name}' is not valid JSON") from None
        if not isinstance(value, dict):
            raise invalid(f"'{name}' must be a JSON object")
        if json_depth(value) > max_depth:
            raise invalid(f"'{name}' is nested more than {max_depth} levels deep")
        return value


def parse_integer(raw: str, name: str, low: int, high: int, *, code: str) -> int:
    """A base-10 ASCII integer in [low, high] (int() alone would also take "1_000", " 7" and other scripts' digits)."""
    if not lim.INTEGER.fullmatch(raw) or len(raw) > 20 or not low <= int(raw) <= high:
        raise BadRequest(f"'{name}' must be an integer between {low} and {high}", code=code)
    return int(raw)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def json_depth(value) -> int:
    """Nesting depth of parsed JSON, without recursion (so any depth json.loads accepted is measured safely)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


async def read_form(request: web.Request, max_audio_bytes: int, max_field_bytes: int,
                    accepted: frozenset[str]) -> Form:
    """The multipart body, with `audio` and at most the text fields named in `accepted`, each at most once."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data with an 'audio' file field",
                                   code="unsupported_media_type")
    limit = max_audio_bytes + FRAMING_ALLOWANCE
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body over {_mb(max_audio_bytes)}", code="payload_too_large")
    form = Form()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart is not accepted", code="malformed_body")
            await _read_part(part, form, max_audio_bytes, max_field_bytes, accepted)
    except (ValueError, AssertionError, UnicodeDecodeError, LookupError, HttpProcessingError) as exc:
        # aiohttp's multipart parser reports broken framing (and bad part headers) with these.
        raise BadRequest(f"malformed multipart body: {str(exc).strip()[:120]}", code="malformed_body") from None
    return form


async def _read_part(part: BodyPartReader, form: Form, max_audio_bytes: int, max_field_bytes: int,
                     accepted: frozenset[str]) -> None:
    name = part.name
    if not name:
        raise BadRequest("a form part has no name", code="malformed_body")
    is_audio = name == AUDIO_FIELD
    if not is_audio and name not in accepted:
        known = ", ".join(sorted({AUDIO_FIELD, *accepted}))
        raise BadRequest(f"unknown form field '{name[:64]}' (this operation takes {known})", code="unknown_field")
    if is_audio and form.audio is not None or not is_audio and name in form.fields:
        raise BadRequest(f"the '{name}' field is given twice", code="malformed_body")
    cap = max_audio_bytes if is_audio else max_field_bytes
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > cap:
            what = f"audio over {_mb(max_audio_bytes)}" if is_audio else f"field '{name}' over {max_field_bytes} bytes"
            raise PayloadTooLarge(what, code="payload_too_large")
    if is_audio:
        form.audio, form.filename = bytes(data), part.filename
    else:
        try:
            form.fields[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f"field '{name}' is not UTF-8 text") from None
