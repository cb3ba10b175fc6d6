"""What the SDK and CLI read from the environment: client settings use the `VOMID_` prefix (the router's own
settings are `VOIMID_*`, and a router refuses names it does not know)."""
from __future__ import annotations

import os

API_KEY_VARIABLE = "VOMID_API_KEY"
URL_VARIABLE = "VOMID_URL"
DEFAULT_URL = "http://localhost:8080"


def api_key_from_env() -> str | None:
    return os.environ.get(API_KEY_VARIABLE) or None


def url_from_env() -> str:
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL
