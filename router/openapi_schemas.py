"""The OpenAPI components: request forms built from the running limits, response bodies, headers, parameters.

Response schemas are closed (`additionalProperties: false`, every always-present key required), so the fuzzer
(tests/router/test_openapi_fuzz.py) notices a key that appears, goes missing or leaks. Decisions say their
least-privilege rules as alternatives: a rejected 1:N names nobody, a rejected 1:1 does not name the user.
"""
from __future__ import annotations

from router import limits as lim
from router.limits import ApiLimits
from router.responses import RANDOM_WEIGHTS_WARNING
from store.validation import MAX_NAME_CHARS


def ref(name: str, kind: str = "schemas") -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def closed(properties: dict, required: list[str] | None = None, **extra) -> dict:
    """An object with exactly these keys (`required` defaults to all of them) plus the optional `warning`."""
    return {"type": "object", "properties": {**properties, "warning": ref("Warning")},
            "required": list(properties) if required is None else required, "additionalProperties": False,
            **extra}


def nullable(kind: str, **extra) -> dict:
    return {"type": kind, "nullable": True, **extra}


SCORE = {"type": "number", "minimum": -1, "maximum": 1}
UNIT = {"type": "number", "minimum": 0, "maximum": 1}
COUNT = {"type": "integer", "minimum": 0}
USER_ID = {"type": "string", "pattern": lim.USER_ID_PATTERN}


def response_schemas(limits: ApiLimits) -> dict:
    decimals = f"rounded to {limits.score_decimals} decimals"
    model = {"type": "object", "additionalProperties": False,
             "description": "the served model; empty until a Triton instance has been ready", "properties": {
                 "id": nullable("string"), "name": nullable("string"), "embedding_dim": {"type": "integer"},
                 "recommended_threshold": nullable("number"), "random_weights": {"type": "boolean"},
                 "source": {"type": "string"}}}
    instance = {"type": "object", "additionalProperties": False, "properties": {
        "url": {"type": "string"}, "weight": {"type": "integer", "minimum": 1}, "healthy": {"type": "boolean"},
        "ejected": {"type": "boolean"}, "ejected_until": nullable("number"), "in_flight": COUNT,
        "requests": COUNT, "failures": COUNT, "latency_ms": nullable("number")}}
    instance["required"] = list(instance["properties"])
    backends = {"type": "object", "additionalProperties": {
        "type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}
    return {
        "Warning": {"type": "string", "enum": [RANDOM_WEIGHTS_WARNING],
                    "description": "present while Triton serves a random-weight model (also X-VoMID-Warning)"},
        "Model": model,
        "User": closed({"user_id": USER_ID, "name": {"type": "string", "maxLength": MAX_NAME_CHARS},
                        "metadata": {"type": "object"}, "created_at": {"type": "number"},
                        "updated_at": {"type": "number"}, "enrollments": {"type": "integer", "minimum": 1},
                        "model_id": {**nullable("string"), "description": "the model that made the voiceprint "
                                     "(null: enrolled before models were tagged)"}}),
        "Verification": {"oneOf": [
            _decision(True, ["1:1", "1:N"], USER_ID, {"type": "string"}, SCORE, "accepted: who matched"),
            _decision(False, ["1:1"], USER_ID, nullable("string", enum=[None]), SCORE,
                      "rejected 1:1: the named user and how close it came, never the name"),
            _decision(False, ["1:N"], nullable("string", enum=[None]), nullable("string", enum=[None]),
                      nullable("number", enum=[None]), "rejected 1:N: names nobody"),
        ], "description": f"confidence is the cosine similarity, {decimals}"},
        "Candidates": closed({"candidates": {"type": "array", "maxItems": limits.max_top_k, "items": {
            "type": "object", "additionalProperties": False, "required": ["user_id", "name", "score",
                                                                           "above_threshold"],
            "properties": {"user_id": USER_ID, "name": {"type": "string"}, "score": SCORE,
                           "above_threshold": {"type": "boolean", "enum": [True]}}},
            "description": f"only candidates at or above the threshold, best first; scores {decimals}"},
            "threshold": UNIT, "model": ref("Model")}),
        "UserPage": closed({"items": {"type": "array", "maxItems": lim.MAX_PAGE, "items": ref("User")},
                            "total": COUNT, "offset": COUNT, "limit": {"type": "integer", "minimum": 1}}),
        "Deleted": closed({"deleted": {"type": "boolean", "enum": [True]}, "user_id": USER_ID}),
        "HealthReady": _health(True, ["ok", "degraded"], model, backends),
        "HealthDown": _health(False, ["down"], model, backends),
        "Live": closed({"live": {"type": "boolean", "enum": [True]}}),
        "Stats": closed({"users": COUNT, "requests": {
            "type": "object", "required": ["total", "by_route", "latency"], "additionalProperties": False,
            "properties": {"total": COUNT, "by_route": {"type": "object", "additionalProperties": COUNT},
                           "latency": {"type": "object", "additionalProperties": {
                               "type": "object", "required": ["recent", "p50_ms", "p99_ms"],
                               "additionalProperties": False, "properties": {
                                   "recent": COUNT, "p50_ms": {"type": "number", "minimum": 0},
                                   "p99_ms": {"type": "number", "minimum": 0}}}}}},
            "instances": {"type": "array", "items": instance}, "model": ref("Model")}),
    }


def _decision(verified: bool, modes: list[str], user_id: dict, name: dict, confidence: dict, text: str) -> dict:
    return closed({"verified": {"type": "boolean", "enum": [verified]}, "mode": {"type": "string", "enum": modes},
                   "user_id": user_id, "name": name, "confidence": confidence, "threshold": UNIT,
                   "model": ref("Model")}, description=text)


def _health(ready: bool, statuses: list[str], model: dict, backends: dict) -> dict:
    return closed({"status": {"type": "string", "enum": statuses}, "live": {"type": "boolean", "enum": [True]},
                   "ready": {"type": "boolean", "enum": [ready]}, "random_weights": {"type": "boolean"},
                   "model": model, "backends": backends},
                  required=["status", "live", "ready", "random_weights"],
                  description="model and backends only for an admin key: the public answer names no address, "
                              "path or count")


def error_body(codes: set[str]) -> dict:
    """{"error": {"code", "message"}} with the codes this status can carry on this operation."""
    return closed({"error": {"type": "object", "additionalProperties": False, "required": ["code", "message"],
                             "properties": {"code": {"type": "string", "enum": sorted(codes)},
                                            "message": {"type": "string"}}}})


HEADERS = {
    "X-Request-ID": {"required": True, "description": "the X-Request-ID the request carried when it matched this "
                                                      "pattern (any other is replaced), else a new id; it names "
                                                      "the request in the logs",
                     "schema": {"type": "string", "pattern": lim.REQUEST_ID_PATTERN}},
    "X-VoMID-Warning": {"description": "present while Triton serves a random-weight model",
                        "schema": {"type": "string", "enum": [RANDOM_WEIGHTS_WARNING]}},
    "Retry-After": {"required": True, "description": "seconds to wait before retrying",
                    "schema": {"type": "integer", "minimum": 1}},
    "Retry-After-If-Busy": {"description": "seconds to wait before retrying, with idempotency_in_progress",
                            "schema": {"type": "integer", "minimum": 1}},
    "Idempotent-Replayed": {"description": "the stored reply to an earlier request with this Idempotency-Key",
                            "schema": {"type": "string", "enum": ["true"]}},
    "Allow": {"required": True, "description": "the methods this path takes",
              "schema": {"type": "string"}},
}


def parameters() -> dict:
    user_id = {"name": "user_id", "in": "path", "required": True, "description": f"{lim.USER_ID_RULE}",
               "schema": USER_ID}
    return {
        "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "pattern": lim.IDEMPOTENCY_KEY_PATTERN},
                           "description": "a retry with the same key and request gets the first reply "
                                          "(Idempotent-Replayed: true), never a second user; the same key on "
                                          "another request is 422, while the first still runs 409"},
        "UserId": user_id,
        "UserIdPath": {**user_id, "schema": {**USER_ID, "not": {"enum": list(lim.RESERVED_USER_IDS)}},
                       "description": f"{lim.USER_ID_RULE}; not {', '.join(lim.RESERVED_USER_IDS)} (those paths "
                                      f"are other operations: 405 here)"},
        "Offset": {"name": "offset", "in": "query", "required": False, "description": "users to skip",
                   "schema": {"type": "integer", "minimum": 0, "maximum": lim.MAX_OFFSET, "default": 0}},
        "Limit": {"name": "limit", "in": "query", "required": False, "description": "users in the page",
                  "schema": {"type": "integer", "minimum": 1, "maximum": lim.MAX_PAGE,
                             "default": lim.DEFAULT_PAGE}},
    }


def form(limits: ApiLimits, fields: dict, required: list[str]) -> dict:
    """A multipart/form-data body: `audio` plus `fields`, nothing else, each once."""
    audio = {"type": "string", "format": "binary", "description": limits.audio_text()}
    schema = {"type": "object", "properties": {"audio": audio, **fields}, "required": ["audio", *required],
              "additionalProperties": False}
    encoding = {name: {"contentType": "application/json"} for name, field in fields.items()
                if field.get("type") == "object"}
    media = {"schema": schema, **({"encoding": encoding} if encoding else {})}
    texts = f"text fields at most {limits.max_field_bytes} bytes of UTF-8 each; " if fields else ""
    return {"required": True, "content": {"multipart/form-data": media},
            "description": f"{texts}the whole body at most {limits.upload_mb} plus 256 KiB of framing"}


def name_field(limits: ApiLimits) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": limits.max_name_chars, "pattern": lim.NAME_PATTERN,
            "description": "no control characters, not only spaces; surrounding spaces are removed"}


def metadata_field(limits: ApiLimits) -> dict:
    return {"type": "object", "description": f"a JSON object (JSON's own constants only: no NaN or Infinity), "
                                             f"nested at most {limits.max_metadata_depth} levels deep "
                                             f"(objects and arrays)"}


def threshold_field(floor: float, threshold: float) -> dict:
    return {"type": "number", "minimum": floor, "maximum": 1, "default": threshold,
            "description": "cosine threshold of this decision: stricter than the service's floor, never laxer"}


def top_k_field(limits: ApiLimits) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": limits.max_top_k, "default": limits.default_top_k}
