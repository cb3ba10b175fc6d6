"""Structured JSON logging carrying the request id (a contextvar), and the audit trail of voiceprint operations.

The audit log is its own logger ("vomid.audit"): who (key id) did what to which user, with result and score.
It never receives audio or embeddings.
"""
from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import time
from pathlib import Path

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("vomid_request_id", default=None)

AUDIT_LOGGER = "vomid.audit"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if rid := request_id.get():
            entry["request_id"] = rid
        if fields := getattr(record, "fields", None):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "INFO", as_json: bool = True, audit_path: str | None = None,
                  audit_retention_days: int = 90) -> None:
    """Process-wide logging for `main.py` (the app factory leaves global logging alone).

    The audit file rotates at midnight UTC and keeps `audit_retention_days` old files (0: keeps all).
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # our metrics middleware logs requests
    if audit_path:
        Path(audit_path).parent.mkdir(parents=True, exist_ok=True)
        audit_handler = logging.handlers.TimedRotatingFileHandler(audit_path, when="midnight", utc=True,
                                                                  backupCount=audit_retention_days)
        audit_handler.setFormatter(JsonFormatter())
        audit = logging.getLogger(AUDIT_LOGGER)
        audit.addHandler(audit_handler)
        audit.propagate = False
        audit.setLevel(logging.INFO)


class AuditLog:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._log = logging.getLogger(AUDIT_LOGGER)

    def record(self, action: str, *, key_id: str | None, result: str, user_id: str | None = None,
               score: float | None = None, **extra) -> None:
        if not self.enabled:
            return
        fields = {"action": action, "key_id": key_id, "user_id": user_id, "result": result}
        if score is not None:
            fields["score"] = round(float(score), 6)
        fields.update(extra)
        self._log.info("%s %s", action, result, extra={"fields": fields})
