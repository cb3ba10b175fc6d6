"""The REST API as data: one `Call` per endpoint (method, path, form fields, upload, result parser).

Both clients build the same calls here and only differ in how they send them, so a route or a field name is
written once.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from client.audio import Upload
from client.errors import ResponseError
from client.models import Health, IdentifyResult, VerifyResult, Voiceprint, VoiceprintPage
from client.recordings import UPLOAD_TIMEOUT_S, RecordingJob

PREFIX = "/api/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE"})


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    parse: Callable[[Any], Any]
    params: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)  # multipart text fields
    upload: Upload | None = None  # sent as the multipart part "audio"
    answers: frozenset[int] = frozenset()  # error statuses whose body is a result, not an error
    headers: dict[str, str] = field(default_factory=dict)
    read_only: bool = False  # a POST that changes nothing (verify, identify)
    stream: Path | None = None  # a file sent as the raw request body, read as it is sent
    timeout: float | None = None  # instead of the client's per-request timeout

    def accepts(self, status: int) -> bool:
        return 200 <= status < 300 or status in self.answers

    @property
    def repeatable(self) -> bool:
        """Safe to send again after no answer: it changes nothing, or the server deduplicates it by its key."""
        return self.method in IDEMPOTENT_METHODS or self.read_only or IDEMPOTENCY_HEADER in self.headers

    @property
    def multipart(self) -> bool:
        return self.upload is not None or bool(self.fields)


def register(name: str, upload: Upload, metadata: dict[str, Any] | None) -> Call:
    fields = {"name": name, "metadata": json.dumps(metadata or {})}
    return Call("POST", f"{PREFIX}/voiceprint/register", _user_id, fields=fields, upload=upload,
                headers=_fresh_idempotency_key())


def verify(upload: Upload, threshold: float | None, user_id: str | None) -> Call:
    fields = _present(threshold=threshold, user_id=user_id)
    return Call("POST", f"{PREFIX}/voiceprint/verify", VerifyResult.from_json, fields=fields, upload=upload,
                read_only=True)


def identify(upload: Upload, top_k: int | None) -> Call:
    return Call("POST", f"{PREFIX}/voiceprint/identify", IdentifyResult.from_json, fields=_present(top_k=top_k),
                upload=upload, read_only=True)


def enroll(user_id: str, upload: Upload) -> Call:
    return Call("POST", f"{PREFIX}/voiceprint/{_segment(user_id)}/enroll", _json, upload=upload,
                headers=_fresh_idempotency_key())


def get(user_id: str) -> Call:
    return Call("GET", f"{PREFIX}/voiceprint/{_segment(user_id)}", Voiceprint.from_json)


def delete(user_id: str) -> Call:
    return Call("DELETE", f"{PREFIX}/voiceprint/{_segment(user_id)}", _json)


def list_page(offset: int, limit: int) -> Call:
    return Call("GET", f"{PREFIX}/voiceprints", VoiceprintPage.from_json,
                params={"offset": str(offset), "limit": str(limit)})


def stats() -> Call:
    return Call("GET", f"{PREFIX}/stats", _json)


def health() -> Call:
    # 503 is the documented "degraded" answer of a health check: a result to show, not a failure to retry.
    return Call("GET", "/health", Health.from_json, answers=frozenset({503}))


def label_submit(path: Path, num_speakers: int | None) -> Call:
    if not path.is_file():
        raise FileNotFoundError(f"no such recording: {path}")
    return Call("POST", f"{PREFIX}/recordings", RecordingJob.from_json, params=_present(num_speakers=num_speakers),
                stream=path, headers={"Content-Type": "application/octet-stream"}, timeout=UPLOAD_TIMEOUT_S)


def label_status(job_id: str) -> Call:
    return Call("GET", f"{PREFIX}/recordings/{_segment(job_id)}", RecordingJob.from_json)


def label_delete(job_id: str) -> Call:
    return Call("DELETE", f"{PREFIX}/recordings/{_segment(job_id)}", _json)


def _fresh_idempotency_key() -> dict[str, str]:
    """One key per call, kept across its retries: a retried write returns the first result, never a second one."""
    return {IDEMPOTENCY_HEADER: uuid.uuid4().hex}


def _user_id(body: Any) -> str:
    if not isinstance(body, dict) or not body.get("user_id"):
        raise ResponseError(f"register answered without a user_id: {str(body)[:200]}")
    return str(body["user_id"])


def _json(body: Any) -> Any:
    return body


def _present(**values: Any) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}


def _segment(user_id: str) -> str:
    if not user_id:
        raise ValueError("user_id must not be empty")
    return quote(str(user_id), safe="")
