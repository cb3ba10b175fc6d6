"""The loop that keeps one replica's local view in step with a shared log of changes (Redis stream,
PostgreSQL change table): snapshot + tail, read-your-writes waits, and full reloads when the tail can't
be trusted. Each backend supplies one step: read what follows the current position, or say why not.
"""
from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class ChangeFollower(ABC):
    transient: tuple[type[BaseException], ...] = (OSError,)   # errors that mean "unreachable: retry"

    def __init__(self, apply: Callable[[list[tuple[str, str, int]]], Awaitable[None]],
                 reload: Callable[[], Awaitable[str]], on_reload: Callable[[str], None] | None = None,
                 name: str = "voiceprint-changes"):
        self._apply = apply      # [(op, user_id, version)] in log order
        self._reload = reload    # rebuild the view from a snapshot; returns the position to go on from
        self._on_reload = on_reload or (lambda reason: None)
        self._name = name
        self.last_id = self.START
        self.connected = False
        self.reloads = 0
        self.last_applied_at: float | None = None
        self._advanced = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    START = "0"

    @staticmethod
    @abstractmethod
    def order(position: str) -> tuple:
        """Positions compare by this key."""

    @abstractmethod
    async def _step(self) -> None:
        """Apply what follows last_id (or reload), then wait briefly for more."""

    def start(self, from_id: str) -> None:
        self.last_id = from_id
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is None:
            return
        # The flag as well as cancel(): a cancellation that lands inside the client's own
        # timeout handling can come out as a TimeoutError, which the loop would retry forever.
        self._stopping = True
        self._task.cancel()
        try:
            await asyncio.wait_for(self._task, 5.0)
        except (asyncio.CancelledError, asyncio.TimeoutError):
            pass
        self._task = None

    async def wait_for(self, position: str, timeout: float) -> bool:
        """Wait until this replica has applied `position` (read-your-writes for the local index)."""
        deadline = time.monotonic() + timeout
        while self.order(self.last_id) < self.order(position):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._advanced.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                await self._step()
                self.connected, backoff = True, 0.05
            except asyncio.CancelledError:
                raise
            except self.transient as exc:
                if self._stopping:
                    return
                if self.connected:
                    log.warning("change log unreachable: %s", exc)
                self.connected = False
                await asyncio.sleep(backoff)  # retry pacing of a background loop, not a test wait
                backoff = min(2.0, backoff * 2)
            except Exception:  # a bug must not silently stop replication: log it loudly and go on
                log.exception("change follower failed; retrying")
                await asyncio.sleep(1.0)

    async def reload(self, code: str, reason: str) -> None:
        log.warning("reloading every user: %s", reason)
        self.reloads += 1
        self._on_reload(code)
        self._advance(await self._reload())

    async def applied(self, entries: list[tuple[str, str, int]], position: str) -> None:
        if entries:
            await self._apply(entries)
            self.last_applied_at = time.time()
        self._advance(position)

    def _advance(self, position: str) -> None:
        self.last_id = position
        self._advanced.set()
        self._advanced = asyncio.Event()
