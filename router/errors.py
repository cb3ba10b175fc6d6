"""Domain errors of the router, each carrying its HTTP status and a stable code; one middleware maps them.

Errors raised by other packages (the store, the Triton pool) are mapped in `router.middlewares` by class, so the
core never knows about HTTP and handlers never build error bodies.
"""
from __future__ import annotations


class ApiError(Exception):
    """Base of every error the router raises on purpose: `status` and `code` travel to the client."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after_s: float):
        seconds = max(1, int(retry_after_s + 0.999))
        super().__init__(f"rate limit exceeded, retry after {seconds}s", headers={"Retry-After": str(seconds)})


class RequestTimeout(ApiError):
    """The client did not finish sending its body in time (a slow upload holds no decode slot for long)."""

    status, code = 408, "body_timeout"


class Unavailable(ApiError):
    """503 with Retry-After: the router refuses work it cannot do in time (overload, an expired deadline)."""

    status, code = 503, "overloaded"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None):
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, int(retry_after_s)))})


class ConfigError(Exception):
    """A bad setting; the message starts with the dotted key (e.g. "api.port: must be an integer 1-65535")."""
