"""Typed results of the SDK calls, built from the router's JSON answers (unknown extra fields are kept in `raw`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from client.errors import ResponseError


@dataclass(frozen=True)
class VerifyResult:
    verified: bool
    user_id: str | None  # None unless verified, or a 1:1 check (the server never names a non-matching user)
    name: str | None
    confidence: float | None  # cosine score of the best match; None when no one is enrolled
    threshold: float
    mode: str | None = None  # "1:1" with a user_id, "1:N" without
    warning: str | None = None  # set while the server runs a random-weight (demo) model
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "VerifyResult":
        confidence = body.get("confidence")
        return cls(verified=bool(_field(body, "verified")), user_id=body.get("user_id"), name=body.get("name"),
                   confidence=None if confidence is None else float(confidence),
                   threshold=float(_field(body, "threshold")), mode=body.get("mode"), warning=body.get("warning"),
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
    candidates: list[Candidate]  # best first
    warning: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "IdentifyResult":
        return cls(candidates=[Candidate.from_json(c) for c in _field(body, "candidates")],
                   warning=body.get("warning"), raw=body)

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
    """The router's /health: status "ok", "degraded" (serving, something is out) or "down" (503, `ready` False).

    `backends` is filled only for an admin key: the public answer names no address, path or count.
    """

    status: str
    ready: bool
    random_weights: bool = False
    backends: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "Health":
        status = str(body.get("status", "unknown"))
        return cls(status=status, ready=bool(body.get("ready", status == "ok")),
                   random_weights=bool(body.get("random_weights", False)), backends=body.get("backends") or {},
                   raw=body)

    @property
    def ok(self) -> bool:
        return self.ready


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or name not in body:
        raise ResponseError(f"response lacks {name!r}: {str(body)[:200]}")
    return body[name]
