"""Sliding windows over speech regions, and cutting them out of a decoded stream block by block.

Windows are `window` samples long with a `hop` step; the last one of a region is aligned to the region's end, so
every window of a long region has the same length (equal lengths batch in the embedding model). A region shorter
than a window is one window of its own length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    region: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_windows(regions: list[tuple[int, int]], window: int, hop: int, min_window: int) -> list[Window]:
    """Windows in order of start; regions shorter than `min_window` get none."""
    planned: list[Window] = []
    for index, (start, end) in enumerate(regions):
        if end - start < min_window:
            continue
        if end - start <= window:
            planned.append(Window(index, start, end))
            continue
        starts = list(range(start, end - window + 1, hop))
        if starts[-1] + window < end:
            starts.append(end - window)
        planned += [Window(index, s, s + window) for s in starts]
    return planned


class WindowCutter:
    """Fed consecutive blocks of one stream, returns each planned window once its last sample has arrived.

    It keeps only the samples from the earliest window still to be cut: at most one block plus one window.
    """

    def __init__(self, windows: list[Window]):
        self._windows = windows
        self._next = 0
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # stream position of self._buffer[0]

    @property
    def done(self) -> bool:
        return self._next >= len(self._windows)

    def feed(self, block: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(window index, samples) for every window the stream now covers."""
        self._buffer = np.concatenate([self._buffer, block]) if self._buffer.size else block
        available = self._buffer_start + self._buffer.size
        cut: list[tuple[int, np.ndarray]] = []
        while not self.done and self._windows[self._next].end <= available:
            window = self._windows[self._next]
            offset = window.start - self._buffer_start
            cut.append((self._next, self._buffer[offset:offset + window.length].copy()))
            self._next += 1
        keep_from = self._windows[self._next].start if not self.done else available
        drop = min(max(0, keep_from - self._buffer_start), self._buffer.size)
        self._buffer, self._buffer_start = self._buffer[drop:], self._buffer_start + drop
        return cut
