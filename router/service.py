"""The voiceprint operations, free of HTTP: decode -> embed through the Triton pool -> store, plus the audit trail.

Handlers parse requests and call these methods; tests and tools may call them directly.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import asdict

import numpy as np

import audio
from router.logs import AuditLog
from router.metrics import RouterMetrics
from store import Match, User, UserNotFound, VoiceprintStore


def user_view(user: User) -> dict:
    return asdict(user)


class VoiceprintService:
    def __init__(self, pool, store: VoiceprintStore, executor: Executor, limits: audio.AudioLimits,
                 threshold: float, metrics: RouterMetrics, audit: AuditLog):
        self.pool, self.store, self.executor = pool, store, executor
        self.limits, self.threshold = limits, threshold
        self.metrics, self.audit = metrics, audit

    async def embed(self, data: bytes) -> np.ndarray:
        started = time.perf_counter()
        waveform = await asyncio.get_running_loop().run_in_executor(self.executor, audio.decode, data, self.limits)
        self.metrics.decode.observe(time.perf_counter() - started)
        self.metrics.audio_seconds.observe(waveform.size / audio.TARGET_RATE)
        started = time.perf_counter()
        embedding = await self.pool.embed(waveform)
        self.metrics.inference.observe(time.perf_counter() - started)
        return embedding

    async def register(self, name: str, data: bytes, metadata: dict | None, actor: str | None) -> dict:
        embedding = await self.embed(data)
        user = await self.store.create_user(name, [embedding], metadata)
        self.audit.record("register", key_id=actor, user_id=user.user_id, result="created")
        return user_view(user)

    async def enroll(self, user_id: str, data: bytes, actor: str | None) -> dict:
        await self.store.get_user(user_id)  # 404 before spending inference on an unknown user
        embedding = await self.embed(data)
        user = await self.store.add_enrollment(user_id, embedding)
        self.audit.record("enroll", key_id=actor, user_id=user_id, result="added", enrollments=user.enrollments)
        return user_view(user)

    async def verify(self, data: bytes, user_id: str | None, threshold: float | None, actor: str | None) -> dict:
        threshold = self.threshold if threshold is None else threshold
        if user_id is not None:
            try:
                user = await self.store.get_user(user_id)
            except UserNotFound:
                self.audit.record("verify", key_id=actor, user_id=user_id, result="user_not_found", mode="1:1")
                raise
            score = await self.store.score(user_id, await self.embed(data))
            verified = score >= threshold
            mode = "1:1"
            match = Match(user.user_id, user.name, score)
        else:
            matches = await self.store.search(await self.embed(data), k=1)
            match = matches[0] if matches else None
            verified = match is not None and match.score >= threshold
            mode = "1:N"
        result = "accepted" if verified else "rejected"
        self.metrics.decisions.labels(mode, result).inc()
        score = None if match is None else float(match.score)
        self.audit.record("verify", key_id=actor, user_id=match.user_id if match else None, result=result,
                          score=score, mode=mode)
        # 1:N never names a non-matching enrolled user: only a verified match is disclosed.
        disclose = verified or mode == "1:1"
        return {"verified": verified, "mode": mode,
                "user_id": match.user_id if disclose and match else None,
                "name": match.name if disclose and match else None,
                "confidence": None if score is None else round(score, 6), "threshold": threshold}

    async def identify(self, data: bytes, top_k: int, actor: str | None) -> dict:
        matches = await self.store.search(await self.embed(data), k=top_k)
        best = matches[0] if matches else None
        self.audit.record("identify", key_id=actor, user_id=best.user_id if best else None,
                          result=f"{len(matches)} candidates", score=best.score if best else None)
        return {"candidates": [{"user_id": m.user_id, "name": m.name, "score": round(float(m.score), 6),
                                "above_threshold": m.score >= self.threshold} for m in matches],
                "threshold": self.threshold}

    async def get(self, user_id: str) -> dict:
        return user_view(await self.store.get_user(user_id))

    async def delete(self, user_id: str, actor: str | None) -> None:
        await self.store.delete_user(user_id)
        self.audit.record("delete", key_id=actor, user_id=user_id, result="deleted")

    async def list(self, offset: int, limit: int) -> dict:
        page = await self.store.list_users(offset=offset, limit=limit)
        return {"items": [user_view(u) for u in page.items], "total": page.total, "offset": page.offset,
                "limit": page.limit}
