"""Receives a recording upload straight to disk (never whole in memory), and owns the spooled files.

Accepted bodies: multipart/form-data with an `audio` file part (plus small text fields such as num_speakers), or
the raw file (audio/* or application/octet-stream). The byte cap is checked from Content-Length before anything is
read and again while streaming; the first bytes must be a known audio format (415 at once, not after 200 MB). The
file is written as `<id>.part`, fsync'd, then renamed, so a spooled file is always complete. A full disk is a 507.
"""
from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

import audio
from router.errors import ApiError, BadRequest, PayloadTooLarge, UnsupportedMediaType
from router.intake import AUDIO_FIELD, FRAMING_ALLOWANCE

WRITE_BYTES = 1 << 20  # bytes gathered before one write (on a worker thread)
MAX_FIELD_BYTES = 1024
MAX_PARTS = 8
TEXT_FIELDS = ("num_speakers",)  # the form's fields besides the audio
RAW_TYPES = ("application/octet-stream",)


class InsufficientStorage(ApiError):
    status, code = 507, "insufficient_storage"


@dataclass
class Upload:
    path: Path
    bytes: int
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


class Spool:
    def __init__(self, folder: Path, max_bytes: int, min_free_bytes: int):
        self.audio_dir = folder / "audio"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self.folder, self.max_bytes, self.min_free_bytes = folder, max_bytes, min_free_bytes

    def node_id(self) -> str:
        """This spool's identity, made once: the router that owns it resumes the jobs whose audio is here."""
        path = self.folder / "node_id"
        if not path.exists():
            temporary = path.with_suffix(".tmp")
            temporary.write_text(secrets.token_hex(8) + "\n")
            os.replace(temporary, path)
        return path.read_text().strip()

    def path(self, job_id: str) -> Path:
        return self.audio_dir / f"{job_id}.audio"

    def remove(self, job_id: str) -> None:
        for path in (self.path(job_id), self.path(job_id).with_suffix(".part")):
            path.unlink(missing_ok=True)

    def check_space(self) -> None:
        if shutil.disk_usage(self.audio_dir).free < self.min_free_bytes + self.max_bytes:
            raise InsufficientStorage("the recording spool is out of disk space; retry later")

    async def receive(self, request: web.Request, job_id: str) -> Upload:
        if request.content_length is not None and request.content_length > self.max_bytes + FRAMING_ALLOWANCE:
            raise PayloadTooLarge(f"recording over {self.max_bytes // (1024 * 1024)} MB", code="payload_too_large")
        target = self.path(job_id)
        try:
            if request.content_type == "multipart/form-data":
                upload = await self._multipart(request, target)
            elif request.content_type.startswith("audio/") or request.content_type in RAW_TYPES:
                upload = Upload(target, await self._write(request.content, target))
            else:
                raise UnsupportedMediaType("send multipart/form-data with an 'audio' file field, or the file itself "
                                           "(audio/* or application/octet-stream)", code="unsupported_media_type")
        except BaseException:
            self.remove(job_id)
            raise
        return upload

    async def _multipart(self, request: web.Request, target: Path) -> Upload:
        upload = Upload(target, 0)
        try:
            reader = await request.multipart()
            for _ in range(MAX_PARTS):
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader) or not part.name:
                    raise BadRequest("every form part needs a name (no nested multipart)", code="malformed_body")
                if part.name == AUDIO_FIELD:
                    if upload.bytes:
                        raise BadRequest("the 'audio' field is given twice", code="malformed_body")
                    upload.filename = (part.filename or "")[:200] or None
                    upload.bytes = await self._write(part, target)
                elif part.name not in TEXT_FIELDS:
                    raise BadRequest(f"unknown form field '{part.name[:64]}' (this operation takes "
                                     f"{', '.join((AUDIO_FIELD, *TEXT_FIELDS))})", code="unknown_field")
                elif part.name in upload.fields:
                    raise BadRequest(f"the '{part.name}' field is given twice", code="malformed_body")
                else:
                    upload.fields[part.name] = await _small_field(part)
            else:
                raise BadRequest(f"more than {MAX_PARTS} form fields", code="malformed_body")
        except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
            raise BadRequest(f"malformed multipart body: {str(exc).strip()[:120]}", code="malformed_body") from None
        if not upload.bytes:
            raise BadRequest("the 'audio' file field is required", code="missing_field")
        return upload

    async def _write(self, source, target: Path) -> int:
        """Streams `source` (a part or the body) into target.part, then renames it; returns the byte count."""
        partial, written, pending, checked = target.with_suffix(".part"), 0, bytearray(), False
        handle = await asyncio.to_thread(open, partial, "wb")
        try:
            while chunk := await _chunk(source):
                written += len(chunk)
                if written > self.max_bytes:
                    raise PayloadTooLarge(f"recording over {self.max_bytes // (1024 * 1024)} MB",
                                          code="payload_too_large")
                pending += chunk
                if not checked and written >= 16:  # the first write happens later: pending holds the head
                    if audio.sniff(bytes(pending[:16])) is None:
                        raise _unsupported()
                    checked = True
                if len(pending) >= WRITE_BYTES:
                    await asyncio.to_thread(handle.write, bytes(pending))
                    pending.clear()
            if written == 0:
                raise BadRequest("the recording is empty", code="empty_audio")
            if not checked and audio.sniff(bytes(pending)) is None:
                raise _unsupported()
            await asyncio.to_thread(_finish, handle, bytes(pending))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage("the recording spool ran out of disk space; retry later") from None
            raise
        finally:
            handle.close()
        os.replace(partial, target)
        return written


async def _chunk(source) -> bytes:
    if isinstance(source, BodyPartReader):
        return await source.read_chunk(256 * 1024)
    return await source.readany()


async def _small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise BadRequest(f"field '{part.name}' over {MAX_FIELD_BYTES} bytes", code="invalid_field")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"field '{part.name}' is not UTF-8 text", code="invalid_field") from None


def _finish(handle, tail: bytes) -> None:
    handle.write(tail)
    handle.flush()
    os.fsync(handle.fileno())


def _unsupported() -> UnsupportedMediaType:
    return UnsupportedMediaType("unsupported audio format (WAV, FLAC, MP3, OGG/Vorbis/Opus, M4A/AAC are accepted)",
                                code="unsupported_format")
