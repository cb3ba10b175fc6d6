"""What the SDK and CLI read from the environment: VOIMID_API_KEY and VOIMID_URL (process-level names the router
knows, so they can share its environment; the old VOMID_ spelling still works, with a warning)."""
from __future__ import annotations

from settings.env import variable

API_KEY_VARIABLE = "VOIMID_API_KEY"
URL_VARIABLE = "VOIMID_URL"
DEFAULT_URL = "http://localhost:8080"


def api_key_from_env() -> str | None:
    return variable("API_KEY") or None


def url_from_env() -> str:
    return variable("URL") or DEFAULT_URL
