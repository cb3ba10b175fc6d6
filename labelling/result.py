"""What labelling a recording returns: speaker turns, the speakers found, and the same as RTTM."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from labelling.rttm import write_rttm


@dataclass
class Speaker:
    label: str  # the enrolled user's id, else speaker_<n>
    user_id: str | None = None
    name: str | None = None
    score: float | None = None  # cosine of the cluster centroid with the user's voiceprint
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    label: str
    user_id: str | None = None
    name: str | None = None
    score: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class LabelResult:
    duration_s: float
    speech_s: float
    windows: int
    speakers: list[Speaker] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"duration_s": self.duration_s, "speech_s": self.speech_s, "windows": self.windows,
                "num_speakers": len(self.speakers), "speakers": [s.as_dict() for s in self.speakers],
                "segments": [s.as_dict() for s in self.segments]}

    def rttm(self, file_id: str) -> str:
        return write_rttm(file_id, [(s.start, s.end, s.label) for s in self.segments])

    @classmethod
    def from_dict(cls, data: dict) -> "LabelResult":
        return cls(duration_s=data["duration_s"], speech_s=data["speech_s"], windows=data["windows"],
                   speakers=[Speaker(**s) for s in data["speakers"]],
                   segments=[Segment(**s) for s in data["segments"]])
