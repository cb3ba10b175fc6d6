"""Typed results of the SDK calls, built from the router's JSON answers (unknown extra fields are kept in `raw`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from client.errors import ResponseError


@dataclass(frozen=True)
class VerifyResult:
    verified: bool
    user_id: str | None
    name: str | None
    confidence: float
    threshold: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "VerifyResult":
        return cls(verified=bool(_field(body, "verified")), user_id=body.get("user_id"), name=body.get("name"),
                   confidence=float(_field(body, "confidence")), threshold=float(_field(body, "threshold")),
                   raw=body)


@dataclass(frozen=True)
class Candidate:
    user_id: str
    name: str | None
    score: float

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "Candidate":
        return cls(user_id=str(_field(body, "user_id")), name=body.get("name"), score=float(_field(body, "score")))


@dataclass(frozen=True)
class IdentifyResult:
    candidates: list[Candidate]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "IdentifyResult":
        return cls(candidates=[Candidate.from_json(c) for c in _field(body, "candidates")], raw=body)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass(frozen=True)
class Voiceprint:
    user_id: str
    name: str | None
    metadata: dict[str, Any]
    enrollments: int | None = None
    created_at: float | None = None
    updated_at: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "Voiceprint":
        return cls(user_id=str(_field(body, "user_id")), name=body.get("name"), metadata=body.get("metadata") or {},
                   enrollments=body.get("enrollments"), created_at=body.get("created_at"),
                   updated_at=body.get("updated_at"), raw=body)


@dataclass(frozen=True)
class VoiceprintPage:
    items: list[Voiceprint]
    total: int
    offset: int
    limit: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "VoiceprintPage":
        items = [Voiceprint.from_json(v) for v in _field(body, "items")]
        return cls(items=items, total=int(body.get("total", len(items))), offset=int(body.get("offset", 0)),
                   limit=int(body.get("limit", len(items))))


@dataclass(frozen=True)
class Health:
    status: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "Health":
        return cls(status=str(body.get("status", "unknown")), raw=body)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "healthy", "ready")


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise ResponseError(f"response lacks {name!r}: {str(body)[:200]}")
    return body[name]
