"""Typed SDK errors: one class per kind of failure, each carrying the server's HTTP status and error code.

The router answers errors as JSON `{"error": {"code", "message"}}`; `error_from_response` maps one such answer
to the class a caller can catch, in one place for the sync and the async client.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone


class VoMIDError(Exception):
    """Base of every SDK error. `status` is None when no HTTP answer came back (connection, timeout)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.message} ({where}{', ' + self.code if self.code else ''})"


class AuthenticationError(VoMIDError):
    """401: the API key is missing or unknown."""


class PermissionDenied(VoMIDError):
    """403: the API key lacks the scope this call needs."""


class NotFound(VoMIDError):
    """404: no such voiceprint (or route)."""


class ValidationError(VoMIDError):
    """Another 4xx: a field the server refused (bad threshold, metadata, top_k...)."""


class AudioRejected(ValidationError):
    """413/415/422: the audio is too large, of an unsupported type, or unusable (corrupt, silent, too short)."""


class RateLimited(VoMIDError):
    """429 after the retries allowed; `retry_after` is the server's advice in seconds, if it gave one."""

    def __init__(self, message: str, *, status: int | None = 429, code: str | None = None,
                 retry_after: float | None = None):
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(VoMIDError):
    """503 after the retries allowed: no inference backend or store is available right now."""


class ServerError(VoMIDError):
    """Any other 5xx."""


class TransportError(VoMIDError):
    """The request got no HTTP answer: connection refused or reset, DNS, or a timeout."""


class ResponseError(VoMIDError):
    """The server answered 2xx with a body that is not the JSON this SDK expects."""


_AUDIO_STATUSES = (413, 415, 422)


def error_from_response(status: int, body: bytes, headers: Mapping[str, str]) -> VoMIDError:
    """The typed error for one non-2xx answer; bodies that are not the router's JSON still map by status."""
    code, message = _parse_error_body(body)
    message = message or f"HTTP {status}"
    if status == 401:
        return AuthenticationError(message, status=status, code=code)
    if status == 403:
        return PermissionDenied(message, status=status, code=code)
    if status == 404:
        return NotFound(message, status=status, code=code)
    if status == 429:
        return RateLimited(message, status=status, code=code, retry_after=parse_retry_after(headers))
    if status in _AUDIO_STATUSES:
        return AudioRejected(message, status=status, code=code)
    if 400 <= status < 500:
        return ValidationError(message, status=status, code=code)
    if status == 503:
        return ServiceUnavailable(message, status=status, code=code)
    return ServerError(message, status=status, code=code)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110); None if absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    try:
        error = json.loads(body or b"null")["error"]
        return str(error.get("code")) if error.get("code") else None, str(error.get("message") or "") or None
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace").strip()[:200]
        return None, text or None
