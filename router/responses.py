"""The one way the router answers JSON, with the random-weights warning the export issue requires on every body."""
from __future__ import annotations

from aiohttp import web

from router.state import POOL

RANDOM_WEIGHTS_WARNING = "random-weight model: results are meaningless"


def model_warning(app: web.Application) -> str | None:
    """The warning every response carries while Triton serves an untrained model."""
    pool = app.get(POOL)
    if pool is not None and pool.model_info().get("random_weights"):
        return RANDOM_WEIGHTS_WARNING
    return None


def reply(request: web.Request, payload: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    """The one way the router answers JSON: adds the random-weights warning to the body when it applies."""
    warning = model_warning(request.app)
    if warning:
        payload = {**payload, "warning": warning}
    return web.json_response(payload, status=status, headers=headers)
