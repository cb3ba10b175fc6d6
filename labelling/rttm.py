"""RTTM (NIST Rich Transcription Time Marked) lines for speaker turns, and a strict reader for them.

One line per turn: `SPEAKER <file> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`, times in seconds. Fields
are separated by whitespace, so file ids and speaker labels have theirs replaced by `_`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RttmTurn:
    file_id: str
    start: float
    duration: float
    speaker: str

    @property
    def end(self) -> float:
        return self.start + self.duration


def token(text: str) -> str:
    return _SPACE.sub("_", text.strip()) or "_"


def write_rttm(file_id: str, turns: list[tuple[float, float, str]]) -> str:
    """(start, end, speaker) in seconds -> RTTM text (empty for no turns)."""
    lines = [f"SPEAKER {token(file_id)} 1 {start:.3f} {end - start:.3f} <NA> <NA> {token(speaker)} <NA> <NA>"
             for start, end, speaker in turns if end > start]
    return "".join(line + "\n" for line in lines)


def parse_rttm(text: str) -> list[RttmTurn]:
    """SPEAKER lines -> turns; anything malformed raises ValueError naming the line."""
    found: list[RttmTurn] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] != "SPEAKER":
            continue  # other RTTM record types carry no speaker turns
        if len(fields) < 9:
            raise ValueError(f"RTTM line {number}: expected at least 9 fields, got {len(fields)}")
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise ValueError(f"RTTM line {number}: onset and duration must be numbers") from None
        if not (start >= 0 and duration > 0):
            raise ValueError(f"RTTM line {number}: onset must be >= 0 and duration > 0")
        found.append(RttmTurn(fields[1], start, duration, fields[7]))
    return found
