"""The OpenAPI 3 document of every router endpoint (served at /api/v1/openapi.json), built from the running limits.

It says exactly what the router accepts and answers: field patterns and ranges from `router.limits` and the
config, every status an operation can answer with the error codes it may carry, the headers, and the scope each
operation needs. `ERRORS` is the one catalogue of error codes; tests/router/test_openapi.py checks that every code
the router's source can raise is in it, and the fuzz test checks real answers against the document.
"""
from __future__ import annotations

from functools import lru_cache

from audio.errors import CODES as AUDIO_CODES
from router import openapi_schemas as s
from router.auth import IMPLIED
from router.limits import ApiLimits

STATUS_TEXT = {
    400: "a field, parameter or header is invalid (the message says which)",
    401: "no API key, or an unknown one",
    403: "the key lacks the operation's scope",
    404: "no such user (or no such path)",
    405: "the user_id is a word that names another operation's path",
    408: "the body was not received in time (overload.body_timeout_s); the connection is closed",
    409: "a request with this Idempotency-Key is still running (Retry-After), or the user holds the most "
         "enrollments the store keeps",
    413: "the body, the audio or a text field is over its limit (checked before and while reading)",
    415: "the body is not multipart/form-data",
    422: "the audio cannot be used (the code says why), the Idempotency-Key was used for another request, or the "
         "model's embedding does not fit the store",
    429: "rate limited",
    503: "overloaded, out of time, or a backend (Triton, storage) is unavailable: retry after Retry-After",
}
AUTH = {401: {"missing_api_key", "invalid_api_key"}, 403: {"insufficient_scope"}, 429: {"rate_limited"}}
READ = {503: {"storage_unavailable", "storage_corrupt"}}
UPLOAD = {400: {"malformed_body", "missing_field", "invalid_field", "unknown_field"}, 408: {"body_timeout"},
          413: {"payload_too_large"}, 415: {"unsupported_media_type"}, 422: {*AUDIO_CODES, "audio_rejected"},
          503: {"overloaded", "deadline_exceeded", "inference_unavailable", "inference_failed", *READ[503]}}
IDEMPOTENT = {400: {"invalid_header"}, 409: {"idempotency_in_progress"}, 422: {"idempotency_key_reused"}}
STORE_WRITE = {422: {"invalid_embedding"}}
USER = {400: {"invalid_field"}, 404: {"user_not_found", "not_found"}}
# The catalogue by operation: every status each can answer, with the codes its error body may carry.
ERRORS = {
    "register": (AUTH, UPLOAD, IDEMPOTENT, STORE_WRITE),
    "verify": (AUTH, UPLOAD, {404: {"user_not_found"}}),
    "identify": (AUTH, UPLOAD),
    "enroll": (AUTH, UPLOAD, IDEMPOTENT, STORE_WRITE, USER, {409: {"enrollment_limit"}}),
    "getUser": (AUTH, USER, READ, {405: {"method_not_allowed"}}),
    "deleteUser": (AUTH, USER, READ, {405: {"method_not_allowed"}}),
    "listUsers": (AUTH, READ, {400: {"invalid_parameter"}}),
    "stats": (AUTH, READ),
}
RETRY_AFTER = {429: "Retry-After", 503: "Retry-After", 409: "Retry-After-If-Busy"}
ALWAYS = {"X-Request-ID": s.ref("X-Request-ID", "headers"), "X-VoMID-Warning": s.ref("X-VoMID-Warning", "headers")}


def errors(operation: str) -> dict:
    merged: dict[int, set[str]] = {}
    for group in ERRORS[operation]:
        for status, codes in group.items():
            merged.setdefault(status, set()).update(codes)
    responses = {}
    for status, codes in sorted(merged.items()):
        headers = dict(ALWAYS)
        if status in RETRY_AFTER:
            headers["Retry-After"] = s.ref(RETRY_AFTER[status], "headers")
        if status == 405:
            headers["Allow"] = s.ref("Allow", "headers")
        responses[str(status)] = {"description": STATUS_TEXT[status], "headers": headers,
                                  "content": {"application/json": {"schema": s.error_body(codes)}}}
    return responses


def ok(schema: dict, description: str, media: str = "application/json", replayable: bool = False) -> dict:
    headers = dict(ALWAYS)
    if replayable:
        headers["Idempotent-Replayed"] = s.ref("Idempotent-Replayed", "headers")
    return {"description": description, "headers": headers, "content": {media: {"schema": schema}}}


def operation(op_id: str, summary: str, scope: str | None, responses: dict, *, parameters: tuple = (),
              body: dict | None = None) -> dict:
    op = {"operationId": op_id, "summary": summary + (f" (scope {scope})" if scope else ""),
          "parameters": [s.ref(name, "parameters") for name in parameters],
          "responses": {**responses, **(errors(op_id) if op_id in ERRORS else {})}}
    if scope is None:
        op["security"] = []
    else:
        holders = sorted(k for k, implied in IMPLIED.items() if scope in implied)
        op["x-required-scope"] = scope
        op["description"] = f"Needs an API key with scope {' or '.join(holders)}."
    if body is not None:
        op["requestBody"] = body
    return op


def voiceprint_paths(limits: ApiLimits, floor: float, threshold: float) -> dict:
    user_links = {name: {"operationId": target, "parameters": {"user_id": "$response.body#/user_id"}}
                  for name, target in (("GetUser", "getUser"), ("EnrollUser", "enroll"),
                                       ("DeleteUser", "deleteUser"))}
    registered = ok(s.ref("User"), "registered", replayable=True) | {"links": user_links}
    return {
        "/api/v1/voiceprint/register": {"post": operation(
            "register", "Register a new speaker from one utterance", "admin", {"201": registered},
            parameters=("IdempotencyKey",),
            body=s.form(limits, {"name": s.name_field(limits), "metadata": s.metadata_field(limits)}, ["name"]))},
        "/api/v1/voiceprint/verify": {"post": operation(
            "verify", "Verify a speaker: 1:1 against user_id, else 1:N against the best match", "verify",
            {"200": ok(s.ref("Verification"), "the decision")},
            body=s.form(limits, {"user_id": s.USER_ID, "threshold": s.threshold_field(floor, threshold)}, []))},
        "/api/v1/voiceprint/identify": {"post": operation(
            "identify", "The enrolled speakers this voice matches, best first", "identify",
            {"200": ok(s.ref("Candidates"), "candidates at or above the threshold")},
            body=s.form(limits, {"top_k": s.top_k_field(limits)}, []))},
        "/api/v1/voiceprint/{user_id}/enroll": {"post": operation(
            "enroll", "Add an utterance to a speaker", "admin", {"200": ok(s.ref("User"), "added", replayable=True)},
            parameters=("UserId", "IdempotencyKey"), body=s.form(limits, {}, []))},
        "/api/v1/voiceprint/{user_id}": {
            "get": operation("getUser", "A speaker's record, without embeddings", "verify",
                             {"200": ok(s.ref("User"), "the user")}, parameters=("UserIdPath",)),
            "delete": operation("deleteUser", "Erase a speaker everywhere", "admin",
                                {"200": ok(s.ref("Deleted"), "erased")}, parameters=("UserIdPath",))},
        "/api/v1/voiceprints": {"get": operation(
            "listUsers", "List speakers in creation order", "admin", {"200": ok(s.ref("UserPage"), "one page")},
            parameters=("Offset", "Limit"))},
    }


def system_paths() -> dict:
    text, html = {"type": "string"}, {"type": "string"}
    health = {"200": ok(s.ref("HealthReady"), "ready"), "503": ok(s.ref("HealthDown"), "not ready")}
    return {
        "/api/v1/stats": {"get": operation(
            "stats", "Users, request counts, latencies, Triton instance states", "admin",
            {"200": ok(s.ref("Stats"), "statistics")})},
        "/health": {"get": operation("health", "Readiness of every backend (details for admin keys)", None,
                                     health)},
        "/health/ready": {"get": operation("ready", "Readiness: the same answer as /health", None, health)},
        "/health/live": {"get": operation("live", "Liveness only: 200 while the process serves", None,
                                          {"200": ok(s.ref("Live"), "alive")})},
        "/metrics": {"get": operation("metrics", "Prometheus metrics", None,
                                      {"200": ok(text, "text exposition format", "text/plain")})},
        "/api/v1/openapi.json": {"get": operation("openapi", "This document", None,
                                                  {"200": ok({"type": "object"}, "OpenAPI 3 JSON")})},
        "/api/v1/docs": {"get": operation("docs", "Swagger UI (served locally)", None,
                                          {"200": ok(html, "HTML", "text/html")})},
    }


@lru_cache(maxsize=8)
def openapi_spec(limits: ApiLimits, threshold_floor: float, threshold: float) -> dict:
    """The document for these limits and the service's current threshold floor and default (cached)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Edge-VoMID voiceprint API", "version": "1.0.0",
                 "description": "Speaker registration, verification (1:1 and 1:N) and identification. Every error "
                                "is JSON {\"error\": {\"code\", \"message\"}}; every answer carries X-Request-ID."},
        "components": {
            "schemas": s.response_schemas(limits), "headers": s.HEADERS, "parameters": s.parameters(limits),
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                "Bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": {**voiceprint_paths(limits, threshold_floor, threshold), **system_paths()},
    }
