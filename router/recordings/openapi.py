"""OpenAPI description of /api/v1/recordings (merged into router.openapi's document)."""
from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema: str, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
RECORDING = {"type": "string", "format": "binary",
             "description": "WAV, FLAC, MP3, OGG/Vorbis/Opus or M4A/AAC; any rate/channels; by default at most "
                            "2 h and 200 MB (recordings.max_seconds, recordings.max_upload_mb)"}
NUM_SPEAKERS = {"type": "integer", "minimum": 1, "maximum": 32,
                "description": "how many speakers there are, if known (else estimated)"}
ERRORS = {"401": _error("missing or unknown API key"), "403": _error("the key lacks the label scope"),
          "429": _error("rate limited (see Retry-After)")}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "object", "required": ["code", "message"],
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
        "warning": {"type": "string"}}},
    "LabelSegment": {"type": "object", "properties": {
        "start": {"type": "number", "description": "seconds"}, "end": {"type": "number"},
        "label": {"type": "string", "description": "the enrolled user's id, else speaker_<n>"},
        "user_id": {"type": "string"}, "name": {"type": "string"},
        "score": {"type": "number", "description": "cosine of the speaker's voice with the enrolled voiceprint"}}},
    "LabelResult": {"type": "object", "properties": {
        "duration_s": {"type": "number"}, "speech_s": {"type": "number"}, "windows": {"type": "integer"},
        "num_speakers": {"type": "integer"},
        "speakers": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "user_id": {"type": "string"}, "name": {"type": "string"},
            "score": {"type": "number"}, "seconds": {"type": "number"}}}},
        "segments": {"type": "array", "items": _ref("LabelSegment")}}},
    "RecordingJob": {"type": "object", "properties": {
        "job_id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
        "stage": {"type": "string"}, "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "created_at": {"type": "number"}, "updated_at": {"type": "number"},
        "started_at": {"type": "number", "nullable": True}, "finished_at": {"type": "number", "nullable": True},
        "attempts": {"type": "integer"}, "filename": {"type": "string", "nullable": True},
        "bytes": {"type": "integer"}, "num_speakers": {"type": "integer", "nullable": True},
        "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                  "description": "failed or cancelled jobs: audio_too_long, corrupt_audio, job_lost, "
                                 "job_interrupted, audio_lost, inference_unavailable, cancelled, ..."},
        "result": _ref("LabelResult"), "warning": {"type": "string"}}},
    "DeletedRecording": {"type": "object", "required": ["job_id", "deleted", "cancelled"], "properties": {
        "job_id": {"type": "string"}, "deleted": {"type": "boolean", "enum": [True]},
        "cancelled": {"type": "boolean", "description": "the job was still queued or running: it was stopped"},
        "warning": {"type": "string"}}},
}

PATHS = {
    "/api/v1/recordings": {"post": {
        "summary": "Label who speaks when in a long recording: starts a job (scope label)",
        "operationId": "labelRecording",
        "parameters": [{"name": "num_speakers", "in": "query", "schema": NUM_SPEAKERS,
                        "description": "also accepted as a form field; given in both, this one counts"}],
        "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["audio"], "additionalProperties": False,
                                               "properties": {"audio": RECORDING, "num_speakers": NUM_SPEAKERS}}},
            "application/octet-stream": {"schema": RECORDING}}},
        "responses": {"202": _ok("RecordingJob", "accepted: poll the Location"),
                      "400": _error("missing, unknown or invalid field"), "408": _error("upload too slow"),
                      "413": _error("recording over the size limit"),
                      "415": _error("not multipart, audio/* or octet-stream; or not an audio format"),
                      "503": _error("too many jobs or uploads (see Retry-After)"),
                      "507": _error("the spool is out of disk space"), **ERRORS}}},
    "/api/v1/recordings/{job_id}": {
        "get": {"summary": "A job's status and progress, and its result once succeeded (scope label)",
                "operationId": "getRecording",
                "parameters": [JOB_ID, {"name": "format", "in": "query", "schema": {"type": "string",
                                                                                  "enum": ["json", "rttm"]}}],
                "responses": {"200": {"description": "the job (JSON), or its RTTM (text/plain, format=rttm)",
                                      "content": {"application/json": {"schema": _ref("RecordingJob")},
                                                  "text/plain": {"schema": {"type": "string"}}}},
                              "400": _error("unknown format"), "404": _error("no such job (or another key's)"),
                              "409": _error("RTTM asked for before the job succeeded"), **ERRORS}},
        "delete": {"summary": "Delete a job: stop it if still active, erase its audio, state and result (scope label)",
                   "operationId": "deleteRecording", "parameters": [JOB_ID],
                   "responses": {"200": _ok("DeletedRecording", "deleted: a GET now answers 404"),
                                 "404": _error("no such job (or another key's)"), **ERRORS}}},
}
