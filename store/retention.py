"""Retention: voiceprints unused for storage.retention_days are erased like a DELETE, and audited.

Use is enrolment and verification against the user (a 1:1 score). It is recorded coarsely: a user's last
use is rewritten only when the stored one is older than 1/30 of the retention period, so recording costs
at most ~30 writes per user per period, not one per request. Each backend runs a sweep every
storage.retention_sweep_s (on Redis one replica at a time, under a lock); every expiry is written to the
audit log ("vomid.audit", action "expire") and counted in vomid_store_expired_users_total.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging

from . import clock
from .config import StorageConfig

log = logging.getLogger(__name__)
audit = logging.getLogger("vomid.audit")   # the router's audit trail (router.logs.AUDIT_LOGGER)


class Retention:
    def __init__(self, config: StorageConfig):
        self.period_s = config.retention_days * 86400.0
        self.resolution_s = self.period_s / 30
        self.sweep_s = config.retention_sweep_s

    @property
    def enabled(self) -> bool:
        return self.period_s > 0

    def expired(self, last_use: float, now: float) -> bool:
        return self.enabled and now - last_use > self.period_s

    def needs_touch(self, recorded: float | None, now: float) -> bool:
        return self.enabled and (recorded is None or now - recorded >= self.resolution_s)


def audit_expiry(user_id: str, last_use: float) -> None:
    when = datetime.datetime.fromtimestamp(last_use, datetime.timezone.utc).isoformat(timespec="seconds")
    audit.info("expire erased", extra={"fields": {"action": "expire", "key_id": None, "user_id": user_id,
                                                  "result": "erased", "last_use": when}})


class Sweeper:
    """Runs store.expire_unused() every sweep_s while the store is open."""

    def __init__(self, store, retention: Retention):
        self._store, self._retention = store, retention
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._retention.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="voiceprint-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._retention.sweep_s)   # a background cadence, not a wait
            try:
                await self._store.expire_unused(clock.now())
            except Exception:  # a failed sweep must not end the schedule: the next one retries
                log.exception("retention sweep failed")
