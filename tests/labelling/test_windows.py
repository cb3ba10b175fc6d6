"""labelling.windows: the window plan over speech regions, and cutting windows from a stream block by block."""
from __future__ import annotations

import numpy as np

from labelling.windows import Window, WindowCutter, plan_windows


def test_plan_has_equal_windows_aligned_to_each_region_end():
    windows = plan_windows([(0, 100), (200, 240), (300, 305)], window=30, hop=15, min_window=10)
    first = [(w.start, w.end) for w in windows if w.region == 0]
    assert first == [(0, 30), (15, 45), (30, 60), (45, 75), (60, 90), (70, 100)]
    assert [(w.start, w.end) for w in windows if w.region == 1] == [(200, 230), (210, 240)]
    assert not [w for w in windows if w.region == 2]  # shorter than min_window: not embedded alone
    assert {w.length for w in windows} == {30}


def test_a_region_shorter_than_a_window_is_one_window():
    assert plan_windows([(10, 25)], window=30, hop=15, min_window=10) == [Window(0, 10, 25)]
    assert plan_windows([(0, 30)], window=30, hop=15, min_window=10) == [Window(0, 0, 30)]


def test_cutter_returns_each_window_once_whatever_the_blocks():
    rng = np.random.default_rng(0)
    stream = rng.standard_normal(10_000).astype(np.float32)
    windows = plan_windows([(100, 2_000), (2_500, 2_600), (5_000, 9_990)], window=400, hop=200, min_window=50)
    for block in (1, 37, 333, 10_000):
        cutter, cut = WindowCutter(windows), {}
        for start in range(0, stream.size, block):
            for index, samples in cutter.feed(stream[start:start + block]):
                assert index not in cut
                cut[index] = samples
        assert cutter.done and sorted(cut) == list(range(len(windows)))
        for index, window in enumerate(windows):
            np.testing.assert_array_equal(cut[index], stream[window.start:window.end])


def test_cutter_keeps_at_most_a_block_and_a_window():
    windows = plan_windows([(0, 100_000)], window=24_000, hop=12_000, min_window=4_800)
    cutter, stream = WindowCutter(windows), np.zeros(200_000, np.float32)
    for start in range(0, stream.size, 16_000):
        cutter.feed(stream[start:start + 16_000])
        assert cutter._buffer.size <= 16_000 + 24_000
    assert cutter.done and cutter._buffer.size == 0
