"""The voiceprint operations, free of HTTP: decode -> embed through the Triton pool -> store, plus the audit trail.

Handlers parse requests and call these methods; tests and tools may call them directly. What a caller learns is
least privilege: a rejected 1:N names nobody, a rejected 1:1 does not name the user, identify lists only
candidates above the threshold, and every score is rounded to `verify.score_decimals`.
"""
from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import asdict

import numpy as np

import audio
from router.admission import Admission, Deadline
from router.config import VerifyConfig
from router.logs import AuditLog
from router.metrics import RouterMetrics
from store import Match, ModelMismatch, StorageUnavailable, User, UserNotFound, VoiceprintStore


# The 3D-Speaker CAM++ model card's cosine threshold: used when neither the config nor the model names one.
DEFAULT_THRESHOLD = 0.39
SEARCH_AT_LEAST = 16


def _timed_decode(data: bytes, limits: audio.AudioLimits) -> tuple[float, np.ndarray]:
    """audio.decode in a decoder thread, with the moment it started (what came before was queueing)."""
    return time.perf_counter(), audio.decode(data, limits)


def user_view(user: User) -> dict:
    return asdict(user)


class VoiceprintService:
    def __init__(self, pool, store: VoiceprintStore, executor: Executor, admission: Admission,
                 limits: audio.AudioLimits, verify: VerifyConfig, metrics: RouterMetrics, audit: AuditLog):
        self.pool, self.store, self.executor, self.admission = pool, store, executor, admission
        self.limits, self.verify_config = limits, verify
        self.metrics, self.audit = metrics, audit

    @property
    def model(self) -> dict:
        return self.pool.model_info()

    @property
    def model_id(self) -> str | None:
        """What new voiceprints are tagged with (None while no Triton instance has been seen, or an untagged model)."""
        return self.model.get("id")

    @property
    def threshold(self) -> float:
        """The configured threshold, else the served model's recommended one, else the CAM++ card's."""
        if self.verify_config.threshold is not None:
            return self.verify_config.threshold
        recommended = self.model.get("recommended_threshold")
        return DEFAULT_THRESHOLD if recommended is None else recommended

    @property
    def threshold_floor(self) -> float:
        """The laxest threshold a client may ask for."""
        floor = self.verify_config.min_threshold
        return self.threshold if floor is None else floor

    def _round(self, score: float) -> float:
        return round(float(score), self.verify_config.score_decimals)

    async def embed(self, data: bytes, deadline: Deadline) -> np.ndarray:
        began = time.perf_counter()
        decoding_from, waveform = await self.admission.decode(self.executor, _timed_decode, data, self.limits)
        started = time.perf_counter()
        self.metrics.decode_wait.observe(decoding_from - began)
        self.metrics.decode.observe(started - decoding_from)
        seconds = waveform.size / audio.TARGET_RATE
        self.metrics.audio_seconds.observe(seconds)
        embedding = await self.pool.embed(waveform, timeout_s=deadline.remaining())
        finished = time.perf_counter()
        self.metrics.inference.observe(finished - started)
        self.admission.observe(finished - began, seconds)
        return embedding

    async def register(self, name: str, data: bytes, metadata: dict | None, actor: str | None,
                       deadline: Deadline) -> dict:
        embedding = await self.embed(data, deadline)
        deadline.remaining()  # nobody waits for a write past the deadline: refuse it rather than do it late
        user = await self.store.create_user(name, [embedding], metadata, model_id=self.model_id)
        self.audit.record("register", key_id=actor, user_id=user.user_id, result="created")
        return user_view(user)

    async def enroll(self, user_id: str, data: bytes, actor: str | None, deadline: Deadline) -> dict:
        await self._known(user_id)  # 404 (or 409 for another model) before spending inference
        embedding = await self.embed(data, deadline)
        deadline.remaining()
        user = await self.store.add_enrollment(user_id, embedding, model_id=self.model_id)
        self.audit.record("enroll", key_id=actor, user_id=user_id, result="added", enrollments=user.enrollments)
        return user_view(user)

    async def verify(self, data: bytes, user_id: str | None, threshold: float | None, actor: str | None,
                     deadline: Deadline) -> dict:
        """1:1 against `user_id`, else 1:N against the best match; `threshold` was checked against the floor."""
        threshold = self.threshold if threshold is None else threshold
        mode = "1:1" if user_id is not None else "1:N"
        if user_id is not None:
            try:
                await self._known(user_id)
                match = await self.store.match(user_id, await self.embed(data, deadline))
                self._same_model(user_id, match.model_id)
            except UserNotFound:
                self.audit.record("verify", key_id=actor, user_id=user_id, result="user_not_found", mode=mode,
                                  threshold=threshold)
                raise
        else:
            matches = await self._search(await self.embed(data, deadline), 1)
            match = matches[0] if matches else None
        verified = match is not None and match.score >= threshold
        result = "accepted" if verified else "rejected"
        self.metrics.decisions.labels(mode, result).inc()
        self.audit.record("verify", key_id=actor, user_id=match.user_id if match else user_id, result=result,
                          score=None if match is None else float(match.score), mode=mode, threshold=threshold)
        reply = {"verified": verified, "mode": mode, "user_id": None, "name": None, "confidence": None,
                 "threshold": threshold, "model": self.model}
        if verified:
            reply.update(user_id=match.user_id, name=match.name, confidence=self._round(match.score))
        elif mode == "1:1":  # the caller named the user: say how close it came, never who it is
            reply.update(user_id=user_id, confidence=self._round(match.score))
        return reply

    async def _known(self, user_id: str) -> None:
        """404 for an unknown user and 409 for one enrolled with another model, before spending inference;
        while the durable copy is away, match() decides."""
        try:
            user = await self.store.get_user(user_id)
        except StorageUnavailable:
            return
        self._same_model(user.user_id, user.model_id)

    def _same_model(self, user_id: str, model_id: str | None) -> None:
        served = self.model_id
        if model_id and served and model_id != served:
            raise ModelMismatch(user_id, model_id, served)

    async def _search(self, embedding: np.ndarray, k: int) -> list[Match]:
        """1:N only among voiceprints of the served model: a cosine across models means nothing. (Past a switch of
        model, users of the old one are skipped until re-enrolled; a few more are searched to fill k.)"""
        served = self.model_id
        matches = await self.store.search(embedding, k=min(1000, max(k, SEARCH_AT_LEAST)))
        return [m for m in matches if not (m.model_id and served and m.model_id != served)][:k]

    async def identify(self, data: bytes, top_k: int, actor: str | None, deadline: Deadline) -> dict:
        """The enrolled users this voice matches (score >= threshold), best first, at most `top_k`."""
        matches = await self._search(await self.embed(data, deadline), top_k)
        above = [m for m in matches if m.score >= self.threshold]
        self.audit.record("identify", key_id=actor, user_id=above[0].user_id if above else None,
                          result=f"{len(above)} candidates", score=matches[0].score if matches else None,
                          threshold=self.threshold, mode="1:N")
        return {"candidates": [{"user_id": m.user_id, "name": m.name, "score": self._round(m.score),
                                "above_threshold": True} for m in above],
                "threshold": self.threshold, "model": self.model}

    async def get(self, user_id: str) -> dict:
        return user_view(await self.store.get_user(user_id))

    async def delete(self, user_id: str, actor: str | None) -> None:
        await self.store.delete_user(user_id)
        self.audit.record("delete", key_id=actor, user_id=user_id, result="deleted")

    async def list(self, offset: int, limit: int) -> dict:
        page = await self.store.list_users(offset=offset, limit=limit)
        return {"items": [user_view(u) for u in page.items], "total": page.total, "offset": page.offset,
                "limit": page.limit}
