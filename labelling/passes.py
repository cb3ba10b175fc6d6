"""The two passes over a recording, each decoding it block by block with the project's one decoder.

Pass 1 streams 16 kHz blocks into the VAD in fixed chunks, carrying its state, and keeps only the probabilities
(one float per 32 ms). Pass 2 decodes again and cuts the planned windows as their samples arrive, embedding them in
batches of equal length with a few batches in flight. Neither pass holds more than a block, a VAD chunk and the
windows in flight: memory does not grow with the recording, apart from probabilities and embeddings.
"""
from __future__ import annotations

import asyncio
import os
from contextlib import aclosing
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np

import audio
from engine.vad import FRAME, VadCarry, pad_to_frames
from labelling.backends import VadBackend, WindowEmbedder
from labelling.windows import Window, WindowCutter

Report = Callable[[float], None]  # fraction of the pass done, 0..1


async def decoded_blocks(path: Path, limits: audio.AudioLimits) -> AsyncIterator[tuple[np.ndarray, float]]:
    """(16 kHz block, fraction of the file's bytes read) on a worker thread; refuses audio past the limit."""
    with open(path, "rb") as handle:
        size = max(1, os.fstat(handle.fileno()).st_size)
        blocks = audio.stream(handle, limits)
        total = 0
        try:
            while (block := await _next_block(blocks)) is not None:
                total += block.size
                if total > limits.max_seconds * audio.TARGET_RATE:
                    raise audio.AudioError(f"audio too long: more than {limits.max_seconds:g}s",
                                           code="audio_too_long")
                yield block, min(1.0, handle.tell() / size)
        finally:
            blocks.close()
    if total == 0:
        raise audio.AudioError("the audio file holds no samples", code="empty_audio")


async def _next_block(blocks) -> np.ndarray | None:
    """next(blocks) on a thread; a cancelled caller still waits for the read, so the file is never closed under it."""
    future = asyncio.get_running_loop().run_in_executor(None, next, blocks, None)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


async def speech_probabilities(path: Path, limits: audio.AudioLimits, vad: VadBackend, chunk_windows: int,
                               report: Report) -> tuple[np.ndarray, int]:
    """Pass 1: per-window speech probabilities of the whole recording, and its length in samples."""
    chunk = chunk_windows * FRAME
    pending, carry, parts, length = np.zeros(0, np.float32), VadCarry.initial(1), [], 0
    async with aclosing(decoded_blocks(path, limits)) as blocks:
        async for block, fraction in blocks:
            length += block.size
            pending = np.concatenate([pending, block])
            whole = pending.size - pending.size % chunk
            for start in range(0, whole, chunk):
                probs, carry = await vad.run(pending[start:start + chunk], carry)
                parts.append(probs)
            pending = pending[whole:]
            report(fraction)
    if pending.size:
        probs, carry = await vad.run(pad_to_frames(pending), carry)
        parts.append(probs)
    report(1.0)
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), length


async def window_embeddings(path: Path, limits: audio.AudioLimits, windows: list[Window], embedder: WindowEmbedder,
                            batch_size: int, in_flight: int, report: Report) -> np.ndarray:
    """Pass 2: the (len(windows), D) embeddings of the planned windows, in plan order."""
    batcher = _Batcher(embedder, len(windows), batch_size, in_flight, report)
    if not windows:
        return np.zeros((0, 0), np.float32)
    cutter = WindowCutter(windows)
    try:
        async with aclosing(decoded_blocks(path, limits)) as blocks:
            async for block, _ in blocks:
                for index, samples in cutter.feed(block):
                    await batcher.add(index, samples)
                if cutter.done:
                    break  # the rest of the file holds no speech: do not decode it
        return await batcher.finish()
    finally:
        await batcher.cancel()


class _Batcher:
    """Groups windows by length into batches and keeps at most `in_flight` embedding requests running."""

    def __init__(self, embedder: WindowEmbedder, total: int, batch_size: int, in_flight: int, report: Report):
        self.embedder, self.total, self.batch_size, self.report = embedder, total, batch_size, report
        self.groups: dict[int, list[tuple[int, np.ndarray]]] = {}
        self.slots = asyncio.Semaphore(in_flight)
        self.tasks: set[asyncio.Task] = set()
        self.result: np.ndarray | None = None
        self.done = 0

    async def add(self, index: int, samples: np.ndarray) -> None:
        group = self.groups.setdefault(samples.size, [])
        group.append((index, samples))
        if len(group) >= self.batch_size:
            await self._send(self.groups.pop(samples.size))

    async def finish(self) -> np.ndarray:
        for length in list(self.groups):
            await self._send(self.groups.pop(length))
        while self.tasks:
            await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
            self._raise_failures()
        assert self.result is not None and self.done == self.total
        return self.result

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    async def _send(self, items: list[tuple[int, np.ndarray]]) -> None:
        self._raise_failures()
        await self.slots.acquire()
        task = asyncio.create_task(self._embed(items))
        self.tasks.add(task)
        task.add_done_callback(lambda _: self.slots.release())

    async def _embed(self, items: list[tuple[int, np.ndarray]]) -> None:
        vectors = await self.embedder.embed(np.stack([samples for _, samples in items]))
        if self.result is None:
            self.result = np.zeros((self.total, vectors.shape[1]), np.float32)
        self.result[[index for index, _ in items]] = vectors
        self.done += len(items)
        self.report(self.done / self.total)

    def _raise_failures(self) -> None:
        for task in [t for t in self.tasks if t.done()]:
            self.tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
