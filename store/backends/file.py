"""The file backend (embedded default): an fsync'd append-only log plus compacted snapshots.

The directory (store.filedir) holds snapshot-<g>.bin and log-<g>.bin files and a LOCK flock'd by the one
process that owns it. A write is acknowledged after its frame is fsync'd. Recovery loads the newest
snapshot, replays the logs after it, cuts off a torn last write and refuses anything else that is
damaged (store.container). Compaction starts a new log under the write lock (closing the old one with a
marker), then writes the snapshot in the background; a deletion triggers one so the erased user's bytes
leave the disk soon after. Key rotation commits with one rename: before it the old key opens the store,
after it the new one.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

from .. import faults
from ..config import StorageConfig
from ..container import new_header, seal_all
from ..crypto import Cipher, load_cipher
from ..errors import RotationIncomplete, StorageUnavailable, StoreConfigError
from ..filedir import recover, remove_older, write_snapshot
from ..framing import Appender, commit_temp, write_temp
from ..records import UserRecord, encode_close, encode_delete, encode_put, encode_touch
from .memory import MemoryStore

log = logging.getLogger(__name__)


class FileStore(MemoryStore):
    backend = "file"

    def __init__(self, config: StorageConfig, cipher: Cipher | None = None):
        super().__init__(config)
        self._cipher = cipher or load_cipher(config)
        self._dir = Path(config.path)
        self._gen = 0
        self._log: Appender | None = None
        self._log_header: dict | None = None
        self._log_entries = 0
        self._lock_fd: int | None = None
        self._compaction: asyncio.Task | None = None
        self._compact_again = False
        self._failed: str | None = None   # set when the directory no longer matches memory: refuse writes

    # --- start-up -------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            records = await asyncio.to_thread(self._recover)
        except BaseException:
            await self.close()  # a failed start must not keep the directory locked
            raise
        await self._mirror.load(records)
        self._sweeper.start()
        log.info("file store opened", extra={"path": str(self._dir), "users": len(records)})

    def _take_lock(self) -> None:
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self._dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreConfigError(f"storage.path: {self._dir} is in use by another process") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot open {self._dir}: {exc.strerror}") from None

    def _recover(self) -> list[UserRecord]:
        self._take_lock()
        rec = recover(self._dir, self._cipher)
        records = list(rec.records.values())
        if records:
            self._mirror.fix_dim(records[0].dim)
        if rec.legacy:
            log.warning("%s holds version 1 files: rewriting them as version 2", self._dir)
            self._commit_generation(rec.gen, records, self._cipher)
            remove_older(self._dir, rec.gen)
        elif rec.log_usable:
            self._gen, self._log_header, self._log_entries = rec.gen, rec.log_header, rec.entries
            self._log = Appender(self._dir / f"log-{rec.gen}.bin", truncate_at=rec.truncate_at,
                                 next_seq=rec.next_seq)
        else:
            self._gen = rec.gen
            self._log_header = new_header("log", rec.gen, self._cipher, dim=self._mirror.dim)
            self._log = Appender(self._dir / f"log-{rec.gen}.bin", self._log_header)
        return records

    async def settle(self) -> None:
        """Wait until no compaction is running (so deleted users are off the disk)."""
        while self._compaction is not None and not self._compaction.done():
            await self._compaction

    async def close(self) -> None:
        await self._sweeper.stop()
        await self.settle()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # --- persistence hooks ----------------------------------------------------------------
    async def _append(self, plaintexts: list[bytes]) -> None:
        if self._failed:
            raise StorageUnavailable(self._failed)
        bodies = seal_all(self._log_header, self._cipher, plaintexts, self._log.next_seq)
        try:
            await asyncio.to_thread(self._log.append, bodies)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write the store log: {exc.strerror or exc}") from None
        self._log_entries += len(plaintexts)

    async def _persist_put(self, records: list[UserRecord]) -> None:
        await self._append([encode_put(r) for r in records])

    async def _persist_delete(self, user_id: str) -> None:
        await self._append([encode_delete(user_id)])

    async def _persist_touch(self, user_id: str, when: float) -> None:
        await self._append([encode_touch(user_id, when)])

    async def _after_write(self, deleted: bool = False) -> None:
        if deleted or self._log_entries >= self._config.snapshot_every:
            self._start_compaction()

    # --- compaction -----------------------------------------------------------------------
    def _start_compaction(self) -> None:
        """Called with the write lock held: switch to a new log now, write the snapshot in the background."""
        if self._compaction is not None and not self._compaction.done():
            self._compact_again = True
            return
        try:
            self._switch_log()
        except OSError as exc:  # nothing changed; the next trigger retries
            log.error("could not start log %d: %s", self._gen + 1, exc)
            return
        state = list(self._mirror.records.values())  # immutable records: a consistent copy
        self._compaction = asyncio.create_task(self._compact(self._gen, state, self._cipher))

    def _switch_log(self) -> None:
        """New log first, then the close marker on the old one; a failure in between leaves the old log in use."""
        gen = self._gen + 1
        header = new_header("log", gen, self._cipher, dim=self._mirror.dim)
        new_log = Appender(self._dir / f"log-{gen}.bin", header)
        try:
            self._log.append(seal_all(self._log_header, self._cipher, [encode_close(gen)], self._log.next_seq))
        except OSError:
            new_log.close()
            (self._dir / f"log-{gen}.bin").unlink(missing_ok=True)
            raise
        self._log.close()
        self._log, self._log_header, self._gen, self._log_entries = new_log, header, gen, 0

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
        tmp = write_snapshot(self._dir, gen, state, cipher, self._mirror.dim)
        try:
            commit_temp(tmp, self._dir / f"snapshot-{gen}.bin")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        remove_older(self._dir, gen)

    async def compact(self) -> None:
        """Force a compaction and wait for it (erasure on demand, tests)."""
        while True:
            await self.settle()
            async with self._write_lock:
                if self._compaction is not None and not self._compaction.done():
                    continue
                self._start_compaction()
                task = self._compaction
            break
        if task is not None:
            await task

    # --- key rotation ---------------------------------------------------------------------
    async def rotate_key(self, new_cipher: Cipher) -> int:
        """Everything rewritten under the new key; one rename is the commit point.

        Before it (any failure, any crash) the directory is untouched and opens with the old key; after
        it, it opens with the new key. A failure after the commit stops this process from writing (its
        log would be a retired generation) and says so.
        """
        while True:
            await self.settle()
            async with self._write_lock:
                # A compaction's second pass needs this lock: never wait for one while holding it.
                if self._compaction is not None and not self._compaction.done():
                    continue
                if self._failed:
                    raise StorageUnavailable(self._failed)
                state = list(self._mirror.records.values())
                await asyncio.to_thread(self._rotate, state, new_cipher)
                return len(state)

    def _rotate(self, state: list[UserRecord], new: Cipher) -> None:
        self._commit_generation(self._gen + 1, state, new)
        try:
            faults.point("rotate.cleanup")
            remove_older(self._dir, self._gen)
        except OSError as exc:  # harmless: the next start retires them
            log.warning("could not remove files older than generation %d: %s", self._gen, exc)

    def _commit_generation(self, gen: int, state: list[UserRecord], cipher: Cipher) -> None:
        """A new generation (snapshot + empty log) under `cipher`; the snapshot's rename is the commit."""
        dim = self._mirror.dim
        header = new_header("log", gen, cipher, dim=dim)
        log_path, snap_path = self._dir / f"log-{gen}.bin", self._dir / f"snapshot-{gen}.bin"
        log_tmp = write_temp(log_path, header, [])
        snap_tmp = None
        try:
            faults.point("rotate.log-prepared")
            snap_tmp = write_snapshot(self._dir, gen, state, cipher, dim)
            faults.point("rotate.snapshot-written")
            commit_temp(snap_tmp, snap_path)
        except BaseException:
            log_tmp.unlink(missing_ok=True)
            if snap_tmp is not None:
                snap_tmp.unlink(missing_ok=True)
            raise
        try:
            faults.point("rotate.committed")
            commit_temp(log_tmp, log_path)
            new_log = Appender(log_path)
        except OSError as exc:
            self._failed = (f"key rotation committed to key id {cipher.key_id} but could not start log-{gen}: "
                            f"{exc}; restart the store with the new key")
            raise RotationIncomplete(self._failed) from None
        if self._log is not None:
            self._log.close()
        self._log, self._log_header, self._gen, self._log_entries = new_log, header, gen, 0
        self._cipher = cipher

    async def health(self) -> dict:
        return {**await super().health(), "path": str(self._dir), "log_entries": self._log_entries,
                **({"failed": self._failed} if self._failed else {})}
