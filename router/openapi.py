"""The hand-written OpenAPI 3 description of every router endpoint (served at /api/v1/openapi.json)."""
from __future__ import annotations

from functools import lru_cache

from router.recordings import openapi as recordings


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema: str, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _multipart(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


AUDIO = {"type": "string", "format": "binary",
         "description": "WAV, FLAC, MP3, OGG/Vorbis/Opus or M4A/AAC; any rate/channels; 1-30 s; at most 10 MB"}
AUDIO_ERRORS = {
    "400": _error("missing or invalid field"), "401": _error("missing or unknown API key"),
    "403": _error("the key lacks the scope"), "413": _error("upload over the size limit"),
    "415": _error("not multipart/form-data, or an unsupported audio format"),
    "422": _error("audio unusable: corrupt_audio, empty_audio, silent_audio, audio_too_short, audio_too_long"),
    "429": _error("rate limited (see Retry-After)"), "503": _error("no Triton instance or storage unavailable"),
}
AUTH_ERRORS = {"401": _error("missing or unknown API key"), "403": _error("the key lacks the scope"),
               "429": _error("rate limited")}
USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 128}}
SECURITY = [{"ApiKey": []}, {"Bearer": []}]

SCHEMAS = {
    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}, "warning": {"type": "string"}}},
    "User": {"type": "object", "properties": {
        "user_id": {"type": "string"}, "name": {"type": "string"}, "metadata": {"type": "object"},
        "created_at": {"type": "number"}, "updated_at": {"type": "number"}, "enrollments": {"type": "integer"},
        "warning": {"type": "string", "description": "present while the model has random weights"}}},
    "Verification": {"type": "object", "properties": {
        "verified": {"type": "boolean"}, "mode": {"type": "string", "enum": ["1:1", "1:N"]},
        "user_id": {"type": "string", "nullable": True}, "name": {"type": "string", "nullable": True},
        "confidence": {"type": "number", "nullable": True, "description": "cosine similarity"},
        "threshold": {"type": "number"}, "warning": {"type": "string"}}},
    "Candidates": {"type": "object", "properties": {"threshold": {"type": "number"}, "candidates": {
        "type": "array", "items": {"type": "object", "properties": {
            "user_id": {"type": "string"}, "name": {"type": "string"}, "score": {"type": "number"},
            "above_threshold": {"type": "boolean"}}}}}},
    "UserPage": {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
        "total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}}},
    "Health": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]}, "live": {"type": "boolean"},
        "ready": {"type": "boolean"}, "random_weights": {"type": "boolean"}, "model": {"type": "object"},
        "backends": {"type": "object"}}},
    "Stats": {"type": "object", "properties": {
        "users": {"type": "integer"}, "requests": {"type": "object"},
        "instances": {"type": "array", "items": {"type": "object"}}, "model": {"type": "object"}}},
}


@lru_cache(maxsize=1)
def openapi_spec() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Edge-VoMID voiceprint API", "version": "1.0.0",
                 "description": "Speaker registration, verification (1:1 and 1:N) and identification."},
        "components": {"schemas": {**SCHEMAS, **recordings.SCHEMAS}, "securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"}}},
        "security": SECURITY,
        "paths": {
            "/api/v1/voiceprint/register": {"post": {
                "summary": "Register a new speaker from one utterance (scope admin)", "operationId": "register",
                "requestBody": _multipart({"name": {"type": "string", "maxLength": 200}, "audio": AUDIO,
                                           "metadata": {"type": "string", "description": "a JSON object"}},
                                          ["name", "audio"]),
                "responses": {"201": _ok("User", "created"), **AUDIO_ERRORS}}},
            "/api/v1/voiceprint/verify": {"post": {
                "summary": "Verify a speaker: 1:1 against user_id, else 1:N best match (scope verify)",
                "operationId": "verify",
                "requestBody": _multipart({"audio": AUDIO, "user_id": {"type": "string"},
                                           "threshold": {"type": "number", "minimum": 0, "maximum": 1}},
                                          ["audio"]),
                "responses": {"200": _ok("Verification"), "404": _error("unknown user_id"), **AUDIO_ERRORS}}},
            "/api/v1/voiceprint/identify": {"post": {
                "summary": "Rank enrolled speakers by similarity (scope verify)", "operationId": "identify",
                "requestBody": _multipart({"audio": AUDIO, "top_k": {"type": "integer", "minimum": 1,
                                                                     "maximum": 100, "default": 5}}, ["audio"]),
                "responses": {"200": _ok("Candidates"), **AUDIO_ERRORS}}},
            "/api/v1/voiceprint/{user_id}/enroll": {"post": {
                "summary": "Add an utterance to a speaker (scope admin)", "operationId": "enroll",
                "parameters": [USER_ID], "requestBody": _multipart({"audio": AUDIO}, ["audio"]),
                "responses": {"200": _ok("User"), "404": _error("unknown user_id"), **AUDIO_ERRORS}}},
            "/api/v1/voiceprint/{user_id}": {
                "get": {"summary": "A speaker's record, without embeddings (scope verify)", "operationId": "getUser",
                        "parameters": [USER_ID],
                        "responses": {"200": _ok("User"), "404": _error("unknown user_id"), **AUTH_ERRORS}},
                "delete": {"summary": "Erase a speaker everywhere (scope admin)", "operationId": "deleteUser",
                           "parameters": [USER_ID],
                           "responses": {"200": {"description": "deleted"}, "404": _error("unknown user_id"),
                                         **AUTH_ERRORS}}},
            "/api/v1/voiceprints": {"get": {
                "summary": "List speakers in creation order (scope admin)", "operationId": "listUsers",
                "parameters": [{"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                               {"name": "limit", "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}],
                "responses": {"200": _ok("UserPage"), "400": _error("bad paging"), **AUTH_ERRORS}}},
            "/api/v1/stats": {"get": {
                "summary": "Users, request counts, latencies, Triton instance states (scope admin)",
                "operationId": "stats", "responses": {"200": _ok("Stats"), **AUTH_ERRORS}}},
            "/health": {"get": {
                "summary": "Liveness and readiness of every backend", "operationId": "health", "security": [],
                "responses": {"200": _ok("Health", "ready"), "503": _ok("Health", "not ready")}}},
            "/health/live": {"get": {
                "summary": "Liveness only (200 while the process serves)", "operationId": "live", "security": [],
                "responses": {"200": {"description": "alive"}}}},
            "/health/ready": {"get": {
                "summary": "Readiness: same body as /health", "operationId": "ready", "security": [],
                "responses": {"200": _ok("Health", "ready"), "503": _ok("Health", "not ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics", "security": [],
                                 "responses": {"200": {"description": "text exposition format"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "security": [],
                                             "responses": {"200": {"description": "OpenAPI 3 JSON"}}}},
            "/api/v1/docs": {"get": {"summary": "Swagger UI (served locally)", "operationId": "docs",
                                     "security": [], "responses": {"200": {"description": "HTML"}}}},
            **recordings.PATHS,
        },
    }
