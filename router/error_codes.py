"""The catalogue of error codes: what each means (with the running limits) and which operation answers which.

The OpenAPI document (router.openapi) is built from it; tests/router/test_openapi.py scans the router's source and
fails when a code it can raise is missing here, or when a code here is raised nowhere.
"""
from __future__ import annotations

from audio.errors import CODES as AUDIO_CODES
from router.limits import ApiLimits

STATUS_TITLE = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
                405: "Method not allowed", 408: "Body too slow", 409: "Conflict", 413: "Too large",
                415: "Not multipart/form-data", 422: "Unusable content", 429: "Rate limited",
                503: "Unavailable: retry after Retry-After", 507: "Out of disk space"}

AUTH = {401: {"missing_api_key", "invalid_api_key"}, 403: {"insufficient_scope"}, 429: {"rate_limited"}}
READ = {503: {"storage_unavailable", "storage_corrupt"}}
UPLOAD = {400: {"malformed_body", "missing_field", "invalid_field", "unknown_field"}, 408: {"body_timeout"},
          413: {"payload_too_large"}, 415: {"unsupported_media_type"}, 422: {*AUDIO_CODES, "audio_rejected"},
          503: {"overloaded", "deadline_exceeded", "inference_unavailable", "inference_failed", *READ[503]}}
IDEMPOTENT = {400: {"invalid_header"}, 409: {"idempotency_in_progress"}, 422: {"idempotency_key_reused"}}
STORE_WRITE = {422: {"invalid_embedding"}}
USER = {400: {"invalid_field"}, 404: {"user_not_found", "not_found"}}
RESERVED = {405: {"method_not_allowed"}}
MODEL = {409: {"model_mismatch"}}
RECORDING_UPLOAD = {400: {"malformed_body", "missing_field", "invalid_field", "unknown_field", "empty_audio"},
                    413: {"payload_too_large"}, 415: {"unsupported_media_type", "unsupported_format"},
                    503: {"too_many_jobs", "too_many_uploads", *READ[503]}, 507: {"insufficient_storage"}}
JOB = {400: {"invalid_field"}, 404: {"job_not_found"}, **READ}
# Every status each operation can answer, with the codes its error body may carry.
BY_OPERATION = {
    "register": (AUTH, UPLOAD, IDEMPOTENT, STORE_WRITE),
    "verify": (AUTH, UPLOAD, MODEL, {404: {"user_not_found"}}),
    "identify": (AUTH, UPLOAD),
    "enroll": (AUTH, UPLOAD, IDEMPOTENT, STORE_WRITE, USER, MODEL, {409: {"enrollment_limit"}}),
    "labelRecording": (AUTH, RECORDING_UPLOAD),
    "getRecording": (AUTH, JOB, {409: {"job_not_finished"}}),
    "deleteRecording": (AUTH, JOB),
    "getUser": (AUTH, USER, READ, RESERVED),
    "deleteUser": (AUTH, USER, READ, RESERVED),
    "listUsers": (AUTH, READ, {400: {"invalid_parameter"}}),
    "stats": (AUTH, READ),
}


def codes_of(operation: str) -> dict[int, set[str]]:
    merged: dict[int, set[str]] = {}
    for group in BY_OPERATION.get(operation, ()):
        for status, codes in group.items():
            merged.setdefault(status, set()).update(codes)
    return merged


def meanings(limits: ApiLimits) -> dict[str, str]:
    """What each code says, in words a client can act on."""
    return {
        "malformed_body": "the multipart body is broken, a part has no name, or a field is given twice",
        "missing_field": "a required field is missing or only spaces",
        "invalid_field": "a field, or the user_id in the path, does not match its schema",
        "unknown_field": "a form field this operation does not take",
        "invalid_header": "the Idempotency-Key is not 1-255 printable ASCII characters",
        "invalid_parameter": "offset or limit is not a plain integer in its range",
        "missing_api_key": "no X-API-Key header and no Authorization: Bearer",
        "invalid_api_key": "the key is not one of the configured keys",
        "insufficient_scope": "the key lacks the operation's scope",
        "rate_limited": "this key (or address) used up its rate; wait Retry-After seconds",
        "user_not_found": "no user has this id",
        "not_found": "no such path (a user_id of . or .. leaves the path)",
        "method_not_allowed": "the user_id is a word that names another operation's path (see Allow)",
        "body_timeout": f"the body was not received within {limits.body_timeout_s:g} s; the connection is closed",
        "idempotency_in_progress": "a request with this Idempotency-Key is still running; retry after Retry-After",
        "enrollment_limit": f"the user already holds {limits.max_enrollments} enrollments, the store's most",
        "payload_too_large": f"over {limits.upload_mb} of audio, or a text field over {limits.max_field_bytes} "
                             f"bytes (checked from Content-Length and while reading)",
        "unsupported_media_type": "the body is not multipart/form-data",
        "empty_audio": "the file holds no samples",
        "unsupported_format": "not an accepted format, or its sample rate or channel count is out of range",
        "corrupt_audio": "the file is truncated or corrupt, or holds NaN or infinite samples",
        "audio_too_short": f"less than {limits.min_seconds:g} s of audio",
        "audio_too_long": f"more than {limits.max_seconds:g} s of audio",
        "silent_audio": "the audio is silent",
        "audio_too_complex": "decoding would take more work than the duration limit allows",
        "audio_rejected": "the model refused this input",
        "idempotency_key_reused": "this Idempotency-Key was used for a different request",
        "model_mismatch": "the user was enrolled with another model than the served one: re-enroll the user",
        "job_not_found": "no labelling job has this id (for this key)",
        "job_not_finished": "the RTTM of a job exists once the job has succeeded",
        "too_many_jobs": "the router holds as many labelling jobs as it may; retry after Retry-After",
        "too_many_uploads": "as many recordings are being uploaded as the router takes at once",
        "insufficient_storage": "the recordings spool is out of disk space",
        "invalid_embedding": "the served model's embedding does not fit the store (a deployment fault)",
        "overloaded": "the router or the inference servers are at capacity",
        "deadline_exceeded": "the request ran out of time",
        "inference_unavailable": "no inference server is available",
        "inference_failed": "inference failed on every server tried",
        "storage_unavailable": "the voiceprint store (or the shared idempotency memory) is unreachable",
        "storage_corrupt": "a stored voiceprint failed its integrity check; an operator must look",
    }
