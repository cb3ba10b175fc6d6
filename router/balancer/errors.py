"""Domain errors of the Triton pool; the router maps each class to one HTTP status, once, in its middleware."""
from __future__ import annotations


class BalancerError(Exception):
    """Base of every error the pool raises on purpose."""


class BalancerConfigError(BalancerError, ValueError):
    """A bad `triton` setting; the message starts with the dotted key ("triton.retries: must be ...")."""


class NoHealthyInstance(BalancerError):
    """No Triton instance is healthy and admitted: the service is unavailable (router: 503)."""


class InferenceRejected(BalancerError):
    """The model refused this input (too short, not finite...): retrying elsewhere cannot help (router: 422)."""


class InferenceFailed(BalancerError):
    """Every attempt failed on an instance fault (connection, timeout, server error), retries included."""


class PoolOverloaded(BalancerError):
    """Every attempt failed because the instances were busy (timeouts, full queues): retry later (router: 503)."""
