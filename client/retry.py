"""When to retry a call and how long to wait: exponential backoff with jitter, honouring Retry-After, bounded.

429 and 503 answers are retried. A request that got no answer at all may have been acted on, so it is retried only
when sending it again is harmless: GET/DELETE, read-only POSTs (verify, identify), and writes carrying an
Idempotency-Key (register, enroll: the SDK sends a fresh key per call, and the router answers a retry with the
first result).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # including the first; 1 disables retries
    backoff_s: float = 0.25  # first wait without Retry-After; doubles each attempt
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 30.0  # a server asking for longer than this gets the error straight away
    jitter: float = 0.2  # +/- fraction, so that many clients do not retry in lockstep

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.backoff_s < 0 or self.max_backoff_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("backoff and wait bounds must be >= 0")

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1` (attempts count from 1), or None to give up."""
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def retries_status(self, status: int) -> bool:
        return status in RETRY_STATUSES


NO_RETRY = RetryPolicy(max_attempts=1)
