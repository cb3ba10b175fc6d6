"""Plain result types the store hands to its callers (no numpy, no backend detail)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    metadata: dict
    created_at: float
    updated_at: float
    enrollments: int
    model_id: str | None = None  # the model that made the voiceprint (None: enrolled before models were tagged)


@dataclass(frozen=True)
class Match:
    user_id: str
    name: str
    score: float
    model_id: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[User] = field(default_factory=list)
    total: int = 0
    offset: int = 0
    limit: int = 50
