"""The file backend (embedded default): an fsync'd append-only log plus compacted snapshots.

Directory layout under `storage.path`:
  snapshot-<g>.bin  every user as of the moment log <g> was started (written atomically)
  log-<g>.bin       puts/deletes after that moment; a write is acknowledged after fsync
  LOCK              flock'd by the one process that owns the directory
Recovery loads the newest snapshot, replays every log of that generation or newer in order,
cuts off a torn last frame (an unacknowledged write), and rebuilds the index. Compaction starts
a new log under the write lock, then writes the snapshot in the background; a deletion triggers
one so the erased user's bytes leave the disk soon after, not only at the next size threshold.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
from pathlib import Path

from ..config import StorageConfig
from ..crypto import Cipher, load_cipher
from ..errors import CorruptData, StorageUnavailable, StoreConfigError
from ..framing import Appender, fsync_dir, read_frames, write_file_atomically
from ..records import UserRecord, seal_delete, seal_put, unseal_op
from .memory import MemoryStore

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(snapshot|log)-(\d+)\.bin$")


class FileStore(MemoryStore):
    backend = "file"

    def __init__(self, config: StorageConfig, cipher: Cipher | None = None):
        super().__init__(config)
        self._cipher = cipher or load_cipher(config)
        self._dir = Path(config.path)
        self._gen = 0
        self._log: Appender | None = None
        self._log_entries = 0
        self._lock_fd: int | None = None
        self._compaction: asyncio.Task | None = None
        self._compact_again = False

    def _header(self, kind: str) -> dict:
        return {"kind": kind, "key_id": self._cipher.key_id, "dim": self._mirror.dim}

    # --- start-up -------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            records = await asyncio.to_thread(self._recover)
        except BaseException:
            await self.close()  # a failed start must not keep the directory locked
            raise
        await self._mirror.load(records)
        log.info("file store opened", extra={"path": str(self._dir), "users": len(records)})

    def _recover(self) -> list[UserRecord]:
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self._dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreConfigError(f"storage.path: {self._dir} is in use by another process") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot open {self._dir}: {exc.strerror}") from None
        snaps, logs = {}, {}
        for p in self._dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                (snaps if m[1] == "snapshot" else logs)[int(m[2])] = p
            elif p.name.endswith(".tmp"):
                p.unlink()  # an interrupted atomic write; its final name never appeared
        base = max(snaps, default=0)
        state: dict[str, UserRecord] = {}
        if base in snaps:
            ff = read_frames(snaps[base])
            self._cipher.check_key_id(ff.header["key_id"], str(snaps[base]))
            if ff.torn_bytes:
                raise CorruptData(f"{snaps[base]}: snapshot is damaged ({ff.torn_bytes} bad bytes)")
            self._replay(ff.payloads, state)
        live = sorted(g for g in logs if g >= base)
        truncate_at = None
        for g in live:
            ff = read_frames(logs[g])
            self._cipher.check_key_id(ff.header["key_id"], str(logs[g]))
            self._replay(ff.payloads, state)
            if ff.torn_bytes and g != live[-1]:
                raise CorruptData(f"{logs[g]}: damaged in the middle of the log history")
            if ff.torn_bytes:
                log.warning("dropping an unacknowledged torn write at the end of %s (%d bytes)",
                            logs[g], ff.torn_bytes)
                truncate_at = ff.valid_end
            self._log_entries = len(ff.payloads)
        self._gen = live[-1] if live else base
        self._log = Appender(self._dir / f"log-{self._gen}.bin", self._header("log"), truncate_at)
        for g, p in [*snaps.items(), *logs.items()]:
            if g < base:
                p.unlink()
        return list(state.values())

    def _replay(self, payloads: list[bytes], state: dict[str, UserRecord]) -> None:
        for blob in payloads:
            op, arg = unseal_op(blob, self._cipher)
            if op == "put":
                state[arg.user_id] = arg
            else:
                state.pop(arg, None)

    async def settle(self) -> None:
        """Wait until no compaction is running (so deleted users are off the disk)."""
        while self._compaction is not None and not self._compaction.done():
            await self._compaction

    async def close(self) -> None:
        await self.settle()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # --- persistence hooks ----------------------------------------------------------------
    async def _append(self, payloads: list[bytes]) -> None:
        try:
            await asyncio.to_thread(self._log.append, payloads)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write the store log: {exc.strerror}") from None
        self._log_entries += len(payloads)

    async def _persist_put(self, records: list[UserRecord]) -> None:
        await self._append([seal_put(r, self._cipher) for r in records])

    async def _persist_delete(self, user_id: str) -> None:
        await self._append([seal_delete(user_id, self._cipher)])

    async def _after_write(self, deleted: bool = False) -> None:
        if deleted or self._log_entries >= self._config.snapshot_every:
            self._start_compaction()

    # --- compaction -----------------------------------------------------------------------
    def _start_compaction(self) -> None:
        """Called with the write lock held: rotate the log now, write the snapshot in the background."""
        if self._compaction is not None and not self._compaction.done():
            self._compact_again = True
            return
        old_log, gen = self._log, self._gen + 1
        self._log = Appender(self._dir / f"log-{gen}.bin", self._header("log"))
        self._gen, self._log_entries = gen, 0
        old_log.close()
        state = list(self._mirror.records.values())  # immutable records: a consistent copy
        self._compaction = asyncio.create_task(self._compact(gen, state, self._cipher))

    async def _compact(self, gen: int, state: list[UserRecord], cipher: Cipher) -> None:
        try:
            await asyncio.to_thread(self._write_snapshot, gen, state, cipher)
        except OSError as exc:
            # Logs are kept until a snapshot lands, so nothing is lost; the next trigger retries.
            log.error("snapshot %d failed: %s", gen, exc)
            return
        if self._compact_again:
            # Deletions arrived while this snapshot was written: one more pass erases them too.
            self._compact_again = False
            async with self._write_lock:
                if self._log is not None:  # not closed meanwhile
                    self._compaction = None
                    self._start_compaction()

    def _write_snapshot(self, gen: int, state: list[UserRecord], cipher: Cipher) -> None:
        header = {"kind": "snapshot", "key_id": cipher.key_id, "dim": self._mirror.dim}
        write_file_atomically(self._dir / f"snapshot-{gen}.bin", header,
                              (seal_put(r, cipher) for r in state))
        for p in self._dir.iterdir():
            m = _NAME.match(p.name)
            if m and int(m[2]) < gen:
                p.unlink()
        fsync_dir(self._dir)

    async def compact(self, cipher: Cipher | None = None) -> None:
        """Force a compaction and wait for it (erasure on demand, key rotation, tests)."""
        while True:
            running = self._compaction
            if running is not None and not running.done():
                await running
                continue
            async with self._write_lock:
                if self._compaction is not None and not self._compaction.done():
                    continue
                if cipher is not None:
                    self._cipher = cipher
                self._start_compaction()
                task = self._compaction
            break
        await task

    async def rotate_key(self, new_cipher: Cipher) -> int:
        # A compaction under the new key rewrites everything and retires the old files.
        await self.compact(new_cipher)
        return len(self._mirror.records)

    async def health(self) -> dict:
        return {**await super().health(), "path": str(self._dir), "log_entries": self._log_entries}
