"""Fast unit tests of VoiceprintService decisions (milliseconds): a real MemoryStore, Admission, metrics and audit,
the scripted embedder (tests/router/service_doubles.py) in place of Triton, so every score is known exactly.

What a caller learns is checked in full: a rejected 1:1 gives a rounded score but no name, a rejected 1:N names
nobody, identify lists only candidates at or above the threshold; audit records and decision metrics say
accepted / rejected. Part of the mutation check (scripts/mutation.sh); the slow tests with the real Triton are in
test_decisions.py, test_api.py and test_observability.py.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import pytest

from router.errors import Unavailable
from router.service import DEFAULT_THRESHOLD
from store import UserNotFound
from store.config import StorageConfig
from store.factory import create_store

from .service_doubles import (CLIP_SAMPLES, MODEL_INFO, CountingExecutor, ScriptedEmbedder, audit_records, axis,
                              build_service, capture_audit, clip_bytes, sample, voice)

pytestmark = pytest.mark.asyncio(loop_scope="session")
CLIP = clip_bytes()


@pytest.fixture
async def store():
    s = create_store(StorageConfig.from_dict({"type": "memory"}))
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def embedder():
    return ScriptedEmbedder()


@pytest.fixture
def executor():
    pool = CountingExecutor()
    yield pool
    pool.shutdown()


@pytest.fixture
def service(store, embedder, executor):
    return build_service(store, embedder, executor)


async def enrol(service, embedder, name: str, vector: np.ndarray, metadata: dict | None = None) -> str:
    embedder.script.append(vector)
    return (await service.register(name, CLIP, metadata, "setup", service.admission.deadline()))["user_id"]


def spend(deadline):
    """Runs inside the embedder: the request's time is used up by the time inference returns."""
    return lambda: setattr(deadline, "at", time.monotonic() - 1.0)


async def test_register_keeps_the_vector_audits_and_measures(service, embedder, executor, store, caplog):
    capture_audit(caplog)
    embedder.script.append(axis(0, 3.0))
    started = time.perf_counter()
    reply = await service.register("alice", CLIP, {"team": "blue"}, "key-1", service.admission.deadline())
    elapsed = time.perf_counter() - started
    assert reply == asdict(await store.get_user(reply["user_id"]))
    assert (reply["name"], reply["metadata"], reply["enrollments"]) == ("alice", {"team": "blue"}, 1)
    [record] = [r async for r in store.export_records()]
    np.testing.assert_array_equal(record.embeddings, [axis(0, 3.0)])   # the raw vector, as embedded
    assert audit_records(caplog) == [{"action": "register", "key_id": "key-1", "user_id": reply["user_id"],
                                      "result": "created"}]
    [(samples, timeout_s)] = embedder.calls
    assert samples == CLIP_SAMPLES and 0 < timeout_s <= service.admission.config.deadline_s
    assert executor.submitted == 1   # decoded on the router's decode threads
    assert sample(service, "vomid_audio_duration_seconds_sum") == CLIP_SAMPLES / 16000
    parts = [f"vomid_{name}_seconds" for name in ("audio_decode_wait", "audio_decode_duration", "inference_duration")]
    for histogram in parts:
        assert sample(service, histogram + "_count") == 1
        assert 0 <= sample(service, histogram + "_sum") <= elapsed
    assert sum(sample(service, histogram + "_sum") for histogram in parts) <= elapsed  # consecutive, not overlapping
    assert 0 < service.admission.limit.baseline_s <= elapsed   # the adaptive limit saw this request's latency


async def test_register_past_the_deadline_writes_nothing(service, embedder, store, caplog):
    capture_audit(caplog)
    deadline = service.admission.deadline()
    embedder.script.append(axis(0))
    embedder.during = spend(deadline)
    with pytest.raises(Unavailable) as err:
        await service.register("late", CLIP, None, "k", deadline)
    assert err.value.code == "deadline_exceeded"
    assert await store.count() == 0 and audit_records(caplog) == []


async def test_enroll_adds_a_vector_and_audits(service, embedder, store, caplog):
    uid = await enrol(service, embedder, "alice", axis(0))
    capture_audit(caplog)
    embedder.script.append(axis(1, 2.0))
    reply = await service.enroll(uid, CLIP, "key-2", service.admission.deadline())
    assert reply == asdict(await store.get_user(uid)) and reply["enrollments"] == 2
    [record] = [r async for r in store.export_records()]
    np.testing.assert_array_equal(record.embeddings, [axis(0), axis(1, 2.0)])
    assert audit_records(caplog) == [{"action": "enroll", "key_id": "key-2", "user_id": uid, "result": "added",
                                      "enrollments": 2}]


async def test_enroll_of_an_unknown_user_spends_no_inference(service, embedder):
    with pytest.raises(UserNotFound):
        await service.enroll("nobody", CLIP, "k", service.admission.deadline())
    assert embedder.calls == []


async def test_enroll_past_the_deadline_writes_nothing(service, embedder, store):
    uid = await enrol(service, embedder, "alice", axis(0))
    deadline = service.admission.deadline()
    embedder.script.append(axis(1))
    embedder.during = spend(deadline)
    with pytest.raises(Unavailable):
        await service.enroll(uid, CLIP, "k", deadline)
    assert (await store.get_user(uid)).enrollments == 1


async def test_verify_1to1_accepted(service, embedder, caplog):
    uid = await enrol(service, embedder, "alice", axis(0))
    capture_audit(caplog)
    embedder.script.append(voice(0.8))
    reply = await service.verify(CLIP, uid, None, "key-v", service.admission.deadline())
    assert reply == {"verified": True, "mode": "1:1", "user_id": uid, "name": "alice", "confidence": 0.8,
                     "threshold": 0.5, "model": MODEL_INFO}
    [audit] = audit_records(caplog)
    assert audit == {"action": "verify", "key_id": "key-v", "user_id": uid, "result": "accepted",
                     "score": pytest.approx(0.8, abs=1e-6), "mode": "1:1", "threshold": 0.5}
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:1", "result": "accepted"}) == 1
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:1", "result": "rejected"}) is None


async def test_verify_1to1_rejected_gives_a_rounded_score_and_no_name(service, embedder, caplog):
    uid = await enrol(service, embedder, "alice", axis(0))
    capture_audit(caplog)
    embedder.script.append(voice(0.456))
    reply = await service.verify(CLIP, uid, None, "key-v", service.admission.deadline())
    assert reply == {"verified": False, "mode": "1:1", "user_id": uid, "name": None, "confidence": 0.46,
                     "threshold": 0.5, "model": MODEL_INFO}
    [audit] = audit_records(caplog)
    assert audit == {"action": "verify", "key_id": "key-v", "user_id": uid, "result": "rejected",
                     "score": pytest.approx(0.456, abs=1e-6), "mode": "1:1", "threshold": 0.5}
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:1", "result": "rejected"}) == 1
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:1", "result": "accepted"}) is None


async def test_scores_are_rounded_to_the_configured_decimals(store, embedder, executor):
    service = build_service(store, embedder, executor, score_decimals=3)
    uid = await enrol(service, embedder, "alice", axis(0))
    embedder.script += [voice(0.4567), voice(0.8123)]
    assert (await service.verify(CLIP, uid, None, "k", service.admission.deadline()))["confidence"] == 0.457
    assert (await service.verify(CLIP, uid, None, "k", service.admission.deadline()))["confidence"] == 0.812


async def test_a_stricter_threshold_from_the_caller_decides(service, embedder, caplog):
    uid = await enrol(service, embedder, "alice", axis(0))
    capture_audit(caplog)
    embedder.script.append(voice(0.8))
    reply = await service.verify(CLIP, uid, 0.9, "k", service.admission.deadline())
    assert (reply["verified"], reply["threshold"], reply["confidence"], reply["name"]) == (False, 0.9, 0.8, None)
    assert audit_records(caplog)[0]["threshold"] == 0.9 and audit_records(caplog)[0]["result"] == "rejected"


@pytest.mark.parametrize("mode", ["1:1", "1:N"])
async def test_a_score_equal_to_the_threshold_is_accepted_just_above_it_rejected(service, embedder, store, mode):
    uid = await enrol(service, embedder, "alice", axis(0))
    query = voice(0.7)
    exact = await store.score(uid, query)   # the very float the decision compares
    target = uid if mode == "1:1" else None
    embedder.script += [query, query]
    assert (await service.verify(CLIP, target, exact, "k", service.admission.deadline()))["verified"] is True
    above = float(np.nextafter(exact, 1.0))
    reply = await service.verify(CLIP, target, above, "k", service.admission.deadline())
    assert reply["verified"] is False and reply["name"] is None


async def test_verify_1to1_of_an_unknown_user(service, embedder, caplog):
    capture_audit(caplog)
    with pytest.raises(UserNotFound):
        await service.verify(CLIP, "nobody", 0.7, "key-v", service.admission.deadline())
    assert embedder.calls == []   # 404 before inference
    assert audit_records(caplog) == [{"action": "verify", "key_id": "key-v", "user_id": "nobody",
                                      "result": "user_not_found", "mode": "1:1", "threshold": 0.7}]
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:1", "result": "rejected"}) is None


async def test_verify_1toN_accepted_names_the_best_match(service, embedder, caplog):
    await enrol(service, embedder, "alice", axis(0))
    bob = await enrol(service, embedder, "bob", axis(1))
    capture_audit(caplog)
    embedder.script.append(voice(0.3, 0.8))
    reply = await service.verify(CLIP, None, None, "key-n", service.admission.deadline())
    assert reply == {"verified": True, "mode": "1:N", "user_id": bob, "name": "bob", "confidence": 0.8,
                     "threshold": 0.5, "model": MODEL_INFO}
    assert audit_records(caplog) == [{"action": "verify", "key_id": "key-n", "user_id": bob, "result": "accepted",
                                      "score": pytest.approx(0.8, abs=1e-6), "mode": "1:N", "threshold": 0.5}]
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:N", "result": "accepted"}) == 1


async def test_verify_1toN_rejected_names_nobody(service, embedder, caplog):
    alice = await enrol(service, embedder, "alice", axis(0))
    await enrol(service, embedder, "bob", axis(1))
    capture_audit(caplog)
    embedder.script.append(voice(0.45, 0.2))
    reply = await service.verify(CLIP, None, None, "key-n", service.admission.deadline())
    assert reply == {"verified": False, "mode": "1:N", "user_id": None, "name": None, "confidence": None,
                     "threshold": 0.5, "model": MODEL_INFO}
    # The audit trail (operators only) keeps who came closest and how close.
    assert audit_records(caplog) == [{"action": "verify", "key_id": "key-n", "user_id": alice, "result": "rejected",
                                      "score": pytest.approx(0.45, abs=1e-6), "mode": "1:N", "threshold": 0.5}]
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:N", "result": "rejected"}) == 1
    assert sample(service, "vomid_verify_decisions_total", {"mode": "1:N", "result": "accepted"}) is None


async def test_verify_1toN_on_an_empty_store(service, embedder, caplog):
    capture_audit(caplog)
    embedder.script.append(voice(0.9))
    reply = await service.verify(CLIP, None, None, "key-n", service.admission.deadline())
    assert (reply["verified"], reply["user_id"], reply["name"], reply["confidence"]) == (False, None, None, None)
    assert audit_records(caplog) == [{"action": "verify", "key_id": "key-n", "user_id": None, "result": "rejected",
                                      "mode": "1:N", "threshold": 0.5}]


async def test_identify_lists_only_candidates_at_or_above_the_threshold(store, embedder, executor, caplog):
    setup = build_service(store, embedder, executor)
    ids = [await enrol(setup, embedder, n, axis(i)) for i, n in enumerate(["a", "b", "c", "d"])]
    query = voice(0.7, 0.5, 0.4, 0.2)
    exact_c = await store.score(ids[2], query)
    service = build_service(store, embedder, executor, threshold=exact_c)   # c sits exactly on the threshold
    capture_audit(caplog)
    embedder.script.append(query)
    reply = await service.identify(CLIP, 10, "key-i", service.admission.deadline())
    assert reply == {"candidates": [{"user_id": ids[0], "name": "a", "score": 0.7, "above_threshold": True},
                                    {"user_id": ids[1], "name": "b", "score": 0.5, "above_threshold": True},
                                    {"user_id": ids[2], "name": "c", "score": 0.4, "above_threshold": True}],
                     "threshold": exact_c, "model": MODEL_INFO}
    assert audit_records(caplog) == [{"action": "identify", "key_id": "key-i", "user_id": ids[0],
                                      "result": "3 candidates", "score": pytest.approx(0.7, abs=1e-6),
                                      "threshold": exact_c, "mode": "1:N"}]
    embedder.script.append(query)
    top2 = await service.identify(CLIP, 2, "key-i", service.admission.deadline())
    assert [c["user_id"] for c in top2["candidates"]] == ids[:2]


async def test_identify_with_nobody_above_the_threshold(store, embedder, executor, caplog):
    service = build_service(store, embedder, executor, threshold=0.95)
    alice = await enrol(service, embedder, "alice", axis(0))
    capture_audit(caplog)
    embedder.script.append(voice(0.9))
    reply = await service.identify(CLIP, 5, "key-i", service.admission.deadline())
    assert reply == {"candidates": [], "threshold": 0.95, "model": MODEL_INFO}
    assert audit_records(caplog) == [{"action": "identify", "key_id": "key-i", "user_id": None,
                                      "result": "0 candidates", "score": pytest.approx(0.9, abs=1e-6),
                                      "threshold": 0.95, "mode": "1:N"}]
    assert alice


async def test_identify_on_an_empty_store(service, embedder, caplog):
    capture_audit(caplog)
    embedder.script.append(voice(0.9))
    assert (await service.identify(CLIP, 5, "k", service.admission.deadline()))["candidates"] == []
    assert audit_records(caplog) == [{"action": "identify", "key_id": "k", "user_id": None,
                                      "result": "0 candidates", "threshold": 0.5, "mode": "1:N"}]


async def test_threshold_defaults(store, embedder, executor):
    assert build_service(store, embedder, executor).threshold == 0.5
    assert build_service(store, embedder, executor, threshold=None).threshold == MODEL_INFO["recommended_threshold"]
    bare = build_service(store, ScriptedEmbedder(info={}), executor, threshold=None)
    assert bare.threshold == DEFAULT_THRESHOLD and bare.threshold_floor == DEFAULT_THRESHOLD
    assert build_service(store, embedder, executor, min_threshold=0.3).threshold_floor == 0.3
    assert build_service(store, embedder, executor).model == MODEL_INFO


async def test_get_delete_list(service, embedder, store, caplog):
    ids = [await enrol(service, embedder, f"u{i}", axis(i), {"i": i}) for i in range(4)]
    assert await service.get(ids[1]) == asdict(await store.get_user(ids[1]))
    page = await service.list(offset=1, limit=2)
    assert page == {"items": [asdict(await store.get_user(u)) for u in ids[1:3]], "total": 4, "offset": 1,
                    "limit": 2}
    capture_audit(caplog)
    await service.delete(ids[0], "key-d")
    assert audit_records(caplog) == [{"action": "delete", "key_id": "key-d", "user_id": ids[0],
                                      "result": "deleted"}]
    with pytest.raises(UserNotFound):
        await service.get(ids[0])
    with pytest.raises(UserNotFound):
        await service.verify(CLIP, ids[0], None, "k", service.admission.deadline())
    embedder.script.append(axis(0))   # the deleted user's own voice
    reply = await service.verify(CLIP, None, None, "k", service.admission.deadline())
    assert reply["verified"] is False and reply["user_id"] is None
