"""Checks of what a caller hands the store, shared by every backend (the router validates first; this is the last line)."""
from __future__ import annotations

import json
import re
import uuid

import numpy as np

from . import clock
from .datakeys import DataKey
from .embeddings import as_embeddings
from .errors import EnrollmentLimit, InvalidRequest
from .records import UserRecord

USER_ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"  # the router publishes it in its OpenAPI spec
MAX_NAME_CHARS = 256
_USER_ID = re.compile(USER_ID_PATTERN)


def check_user_id(user_id: str) -> str:
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise InvalidRequest("user_id must be 1-128 characters of A-Z a-z 0-9 _ . : @ -")
    return user_id


def check_metadata(metadata: dict | None) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be a JSON object")
    try:
        # Round-trip so what we return is exactly what a reload would give back.
        return json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"metadata is not JSON-serialisable: {exc}") from None


def check_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"name must be a string of at most {MAX_NAME_CHARS} characters")
    return name


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= 1000:
        raise InvalidRequest("offset must be >= 0 and limit between 1 and 1000")


def check_room(enrollments: int, max_enrollments: int, adding: int = 1) -> None:
    if enrollments + adding > max_enrollments:
        raise EnrollmentLimit(f"at most {max_enrollments} enrollments per user")


def new_record(name: str, embeddings: list[np.ndarray], metadata: dict | None, user_id: str | None,
               dim: int | None, max_enrollments: int, model_id: str | None = None) -> UserRecord:
    """The validated, not yet stored record of a new user (a fresh uuid4 hex id unless one is given)."""
    emb = as_embeddings(embeddings, dim)
    check_room(0, max_enrollments, adding=emb.shape[0])
    now = clock.now()
    return UserRecord(check_user_id(user_id) if user_id is not None else uuid.uuid4().hex, check_name(name),
                      check_metadata(metadata), now, now, emb, DataKey.new(), last_used=now, model_id=model_id)
