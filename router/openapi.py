"""The OpenAPI 3 document of every router endpoint (served at /api/v1/openapi.json), built from the running limits.

It says exactly what the router accepts and answers: field patterns and ranges from `router.limits` and the
config, every status an operation can answer with the error codes it may carry, the headers, and the scope each
operation needs. The error codes come from the catalogue in `router.error_codes`; the fuzz test
(tests/router/test_openapi_fuzz.py) checks real answers against the document.
"""
from __future__ import annotations

from functools import lru_cache, partial

from router import error_codes as codes, limits as lim, openapi_schemas as s
from router.auth import IMPLIED
from router.limits import ApiLimits
from router.recordings import openapi as recordings

RETRY_AFTER = {429: "Retry-After", 503: "Retry-After", 409: "Retry-After-If-Busy"}
ALWAYS = {"X-Request-ID": s.ref("X-Request-ID", "headers"), "X-VoMID-Warning": s.ref("X-VoMID-Warning", "headers")}


def errors(operation: str, limits: ApiLimits) -> dict:
    """The error responses of an operation: per status, what each code means and the codes as an enum."""
    meaning = codes.meanings(limits)
    responses = {}
    for status, names in sorted(codes.codes_of(operation).items()):
        headers = dict(ALWAYS)
        if status in RETRY_AFTER:
            headers["Retry-After"] = s.ref(RETRY_AFTER[status], "headers")
        if status == 405:
            headers["Allow"] = s.ref("Allow", "headers")
        text = "; ".join(f"`{name}`: {meaning[name]}" for name in sorted(names))
        responses[str(status)] = {"description": f"{codes.STATUS_TITLE[status]}. {text}", "headers": headers,
                                  "content": {"application/json": {"schema": s.error_body(names)}}}
    return responses


def ok(schema: dict, description: str, media: str = "application/json", replayable: bool = False) -> dict:
    headers = dict(ALWAYS)
    if replayable:
        headers["Idempotent-Replayed"] = s.ref("Idempotent-Replayed", "headers")
    return {"description": description, "headers": headers, "content": {media: {"schema": schema}}}


def operation(op_id: str, summary: str, scope: str | None, responses: dict, *, limits: ApiLimits,
              parameters: tuple = (), body: dict | None = None) -> dict:
    op = {"operationId": op_id, "summary": summary + (f" (scope {scope})" if scope else ""),
          "parameters": [s.ref(name, "parameters") for name in parameters],
          "responses": {**responses, **errors(op_id, limits)}}
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
    op = partial(operation, limits=limits)
    user_links = {name: {"operationId": target, "parameters": {"user_id": "$response.body#/user_id"}}
                  for name, target in (("GetUser", "getUser"), ("EnrollUser", "enroll"),
                                       ("DeleteUser", "deleteUser"))}
    registered = ok(s.ref("User"), "registered", replayable=True) | {"links": user_links}
    return {
        "/api/v1/voiceprint/register": {"post": op(
            "register", "Register a new speaker from one utterance", "admin", {"201": registered},
            parameters=("IdempotencyKey",),
            body=s.form(limits, {"name": s.name_field(limits), "metadata": s.metadata_field(limits)}, ["name"]))},
        "/api/v1/voiceprint/verify": {"post": op(
            "verify", "Verify a speaker: 1:1 against user_id, else 1:N against the best match", "verify",
            {"200": ok(s.ref("Verification"), "the decision")},
            body=s.form(limits, {"user_id": s.USER_ID, "threshold": s.threshold_field(floor, threshold)}, []))},
        "/api/v1/voiceprint/identify": {"post": op(
            "identify", "The enrolled speakers this voice matches, best first", "identify",
            {"200": ok(s.ref("Candidates"), "candidates at or above the threshold")},
            body=s.form(limits, {"top_k": s.top_k_field(limits)}, []))},
        "/api/v1/voiceprint/{user_id}/enroll": {"post": op(
            "enroll", "Add an utterance to a speaker", "admin", {"200": ok(s.ref("User"), "added", replayable=True)},
            parameters=("UserId", "IdempotencyKey"), body=s.form(limits, {}, []))},
        "/api/v1/voiceprint/{user_id}": {
            "get": op("getUser", "A speaker's record, without embeddings", "verify",
                             {"200": ok(s.ref("User"), "the user")}, parameters=("UserIdPath",)),
            "delete": op("deleteUser", "Erase a speaker everywhere", "admin",
                                {"200": ok(s.ref("Deleted"), "erased")}, parameters=("UserIdPath",))},
        "/api/v1/voiceprints": {"get": op(
            "listUsers", "List speakers in creation order", "admin", {"200": ok(s.ref("UserPage"), "one page")},
            parameters=("Offset", "Limit"))},
    }


def system_paths(limits: ApiLimits) -> dict:
    op = partial(operation, limits=limits)
    text, html = {"type": "string"}, {"type": "string"}
    health = {"200": ok(s.ref("HealthReady"), "ready"), "503": ok(s.ref("HealthDown"), "not ready")}
    return {
        "/api/v1/stats": {"get": op(
            "stats", "Users, request counts, latencies, Triton instance states", "admin",
            {"200": ok(s.ref("Stats"), "statistics")})},
        "/health": {"get": op("health", "Readiness of every backend (details for admin keys)", None,
                                     health)},
        "/health/ready": {"get": op("ready", "Readiness: the same answer as /health", None, health)},
        "/health/live": {"get": op("live", "Liveness only: 200 while the process serves", None,
                                          {"200": ok(s.ref("Live"), "alive")})},
        "/metrics": {"get": op("metrics", "Prometheus metrics", None,
                                      {"200": ok(text, "text exposition format", "text/plain")})},
        "/api/v1/openapi.json": {"get": op("openapi", "This document", None,
                                                  {"200": ok({"type": "object"}, "OpenAPI 3 JSON")})},
        "/api/v1/docs": {"get": op("docs", "Swagger UI (served locally)", None,
                                          {"200": ok(html, "HTML", "text/html")})},
    }


def recording_paths(limits: ApiLimits) -> dict:
    """router.recordings' operations, with their error answers from the catalogue like every other operation."""
    paths = {}
    for path, methods in recordings.PATHS.items():
        paths[path] = {}
        for method, op in methods.items():
            kept = {status: answer for status, answer in op["responses"].items() if not status.startswith(("4", "5"))}
            paths[path][method] = {**op, "responses": {**kept, **errors(op["operationId"], limits)}}
    return paths


@lru_cache(maxsize=8)
def openapi_spec(limits: ApiLimits, threshold_floor: float, threshold: float) -> dict:
    """The document for these limits and the service's current threshold floor and default (cached)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Edge-VoMID voiceprint API", "version": "1.0.0", "description": (
            "Speaker registration, verification (1:1 and 1:N) and identification. Every error is JSON "
            "{\"error\": {\"code\", \"message\"}} with the codes listed per operation and status. Every answer "
            f"carries X-Request-ID: send one matching {lim.REQUEST_ID_PATTERN} to name your request in the logs. "
            "Keys carry scopes: admin may do everything, identify includes verify's 1:N.")},
        "components": {
            "schemas": {**s.response_schemas(limits), **recordings.SCHEMAS}, "headers": s.HEADERS,
            "parameters": s.parameters(),
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                "Bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": {**voiceprint_paths(limits, threshold_floor, threshold), **system_paths(limits),
                  **recording_paths(limits)},
    }
