"""Error answers map to typed exceptions carrying the server's code; Retry-After and the retry policy."""
from __future__ import annotations

import json
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from client.errors import (AudioRejected, AuthenticationError, NotFound, PermissionDenied, RateLimited, ServerError,
                           ServiceUnavailable, ValidationError, error_from_response, parse_retry_after)
from client import api
from client.audio import Upload
from client.retry import RetryPolicy


def _body(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": f"{code} happened"}}).encode()


@pytest.mark.parametrize("status,code,kind", [
    (400, "bad_request", ValidationError), (401, "unauthorized", AuthenticationError),
    (403, "forbidden", PermissionDenied), (404, "not_found", NotFound), (413, "payload_too_large", AudioRejected),
    (415, "unsupported_media_type", AudioRejected), (422, "silent_audio", AudioRejected),
    (429, "rate_limited", RateLimited), (503, "unavailable", ServiceUnavailable), (500, "internal", ServerError),
])
def test_status_maps_to_class_with_code(status, code, kind):
    error = error_from_response(status, _body(code), {"Retry-After": "3"})
    assert type(error) is kind
    assert (error.status, error.code, error.message) == (status, code, f"{code} happened")


def test_non_json_error_bodies_still_map():
    error = error_from_response(502, b"<html>bad gateway</html>", {})
    assert isinstance(error, ServerError) and error.code is None and "bad gateway" in error.message


def test_retry_after_seconds_and_http_date():
    assert error_from_response(429, _body("rate_limited"), {"retry-after": "2"}).retry_after == 2.0
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 55 <= parse_retry_after({"Retry-After": later}) <= 60
    assert parse_retry_after({"Retry-After": "soon"}) is None and parse_retry_after({}) is None


def test_retry_policy_is_bounded():
    policy = RetryPolicy(max_attempts=3, backoff_s=0.1, jitter=0.0, max_retry_after_s=5)
    assert policy.delay(1, None) == pytest.approx(0.1)
    assert policy.delay(2, None) == pytest.approx(0.2)
    assert policy.delay(3, None) is None  # attempts exhausted
    assert policy.delay(1, 4.0) == 4.0  # the server's advice wins
    assert policy.delay(1, 60.0) is None  # but not beyond the bound


def test_which_calls_are_resent_after_no_answer():
    """A write may have happened when no answer came: resent only when the server can tell it is a repeat."""
    upload = Upload("a.wav", b"RIFF", "audio/wav")
    register, enroll = api.register("ada", upload, None), api.enroll("u1", upload)
    assert register.repeatable and enroll.repeatable  # both carry a fresh Idempotency-Key
    assert register.headers[api.IDEMPOTENCY_HEADER] != api.register("ada", upload, None).headers[
        api.IDEMPOTENCY_HEADER]  # one key per call, not per process
    assert api.verify(upload, None, None).repeatable and api.get("u1").repeatable and api.delete("u1").repeatable
    assert not api.Call("POST", "/x", lambda body: body).repeatable  # a plain POST is not resent
