"""Names the clusters: each centroid searched among the enrolled voiceprints; at or above the threshold it is that
user, else `speaker_1`, `speaker_2`, ... in order of first speech. Clusters matching one user become one speaker."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelling.backends import SpeakerMatch, SpeakerMatcher
from labelling.result import Speaker
from labelling.segments import Turn

RATE = 16000


async def name_speakers(centres: np.ndarray, turns: list[Turn], matcher: SpeakerMatcher | None) -> dict[int, Speaker]:
    """Cluster index -> Speaker (shared by clusters of one user), for the clusters that speak in `turns`."""
    speaking = list(dict.fromkeys(turn.speaker for turn in turns))  # order of first speech
    matches: dict[int, SpeakerMatch | None] = {k: None for k in speaking}
    if matcher is not None:
        for cluster in speaking:
            matches[cluster] = await matcher.match(np.asarray(centres[cluster], dtype=np.float32))
    seconds = dict.fromkeys(speaking, 0.0)
    for turn in turns:
        seconds[turn.speaker] += (turn.end - turn.start) / RATE
    by_user: dict[str, Speaker] = {}
    named: dict[int, Speaker] = {}
    anonymous = 0
    for cluster in speaking:
        match = matches[cluster]
        if match is None:
            anonymous += 1
            named[cluster] = Speaker(label=f"speaker_{anonymous}")
        else:
            named[cluster] = speaker = by_user.setdefault(match.user_id, Speaker(match.user_id, match.user_id,
                                                                                 match.name, match.score))
            speaker.score = max(speaker.score, match.score)
        named[cluster].seconds = round(named[cluster].seconds + seconds[cluster], 3)
    return named


class StoreMatcher:
    """SpeakerMatcher over the voiceprint store: its best 1:N match, kept only at or above `threshold()` (asked at
    each match: the router's decision threshold may come from the served model, known only once Triton answers)."""

    def __init__(self, store, threshold: Callable[[], float]):
        self.store, self.threshold = store, threshold

    async def match(self, centroid: np.ndarray) -> SpeakerMatch | None:
        found = await self.store.search(centroid, k=1)
        if not found or found[0].score < self.threshold():
            return None
        return SpeakerMatch(found[0].user_id, found[0].name, float(found[0].score))
