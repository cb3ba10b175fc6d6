"""From labelled windows to speaker turns: split overlapping windows half way, join what one speaker says.

Inside a speech region, two consecutive windows overlap by window - hop; each owns its part up to the middle of
the overlap. Regions too short to embed take the label of the nearest embedded window. Adjacent pieces with the
same label merge; nothing outside the VAD's speech regions is ever labelled, so speech/non-speech boundaries are
the VAD's own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelling.windows import Window


@dataclass(frozen=True)
class Turn:
    start: int  # samples
    end: int
    speaker: int  # cluster index


def turns(regions: list[tuple[int, int]], windows: list[Window], labels: np.ndarray) -> list[Turn]:
    """Speaker turns in time order, in samples; `labels[i]` is the cluster of `windows[i]`."""
    if not windows:
        return []
    by_region: dict[int, list[int]] = {}
    for index, window in enumerate(windows):
        by_region.setdefault(window.region, []).append(index)
    centres = np.array([(w.start + w.end) // 2 for w in windows])
    pieces: list[Turn] = []
    for region_index, (start, end) in enumerate(regions):
        members = by_region.get(region_index)
        if members is None:  # too short to embed: the nearest embedded window speaks here
            nearest = int(np.argmin(np.abs(centres - (start + end) // 2)))
            pieces.append(Turn(start, end, int(labels[nearest])))
            continue
        edges = [start] + [(windows[a].end + windows[b].start) // 2 for a, b in zip(members, members[1:])] + [end]
        pieces += [Turn(lo, hi, int(labels[i])) for lo, hi, i in zip(edges, edges[1:], members) if hi > lo]
    return _merged(pieces)


def _merged(pieces: list[Turn]) -> list[Turn]:
    joined: list[Turn] = []
    for piece in pieces:
        if joined and joined[-1].speaker == piece.speaker and joined[-1].end >= piece.start:
            joined[-1] = Turn(joined[-1].start, max(joined[-1].end, piece.end), piece.speaker)
        else:
            joined.append(piece)
    return joined
