"""Decisions through the real router: impostors rejected, genuine speakers accepted, and nothing disclosed on a no.

Real speech of different speakers and a real Triton. The random-weight model's scores are not calibrated, so every
threshold here is derived from scores this test measures itself, never copied from earlier output.
"""
from __future__ import annotations

import json
import logging

import pytest

from router.logs import AUDIT_LOGGER
from tests.audio.files import encode
from tests.router.conftest import auth, form

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROBE = "/api/v1/voiceprint/verify"


@pytest.fixture(scope="module")
async def probe_client(make_client, router_settings):
    """Scores in full (6 decimals) and no threshold floor, so a test can place a threshold next to a score."""
    return await make_client(router_settings(verify={"score_decimals": 6, "min_threshold": 0.0}))


@pytest.fixture(scope="module")
async def enrolled(probe_client, admin_key, speech):
    """Three speakers, each enrolled from its first clip; their other clips are held out for probing."""
    users = {}
    for speaker, clips in list(speech.items())[:3]:
        response = await probe_client.post("/api/v1/voiceprint/register", headers=auth(admin_key),
                                           data=form(encode(clips[0], "wav16"), name=f"spk-{speaker}"))
        assert response.status == 201, await response.text()
        users[speaker] = (await response.json())["user_id"]
    yield users
    for user_id in users.values():
        await probe_client.delete(f"/api/v1/voiceprint/{user_id}", headers=auth(admin_key))


async def verify(client, key, clip, **fields) -> dict:
    response = await client.post(PROBE, headers=auth(key), data=form(encode(clip, "wav16"), **fields))
    body = await response.json()
    assert response.status == 200, body
    return body


async def score_of(client, key, clip, user_id) -> float:
    return (await verify(client, key, clip, user_id=user_id, threshold=0.0))["confidence"]


async def test_the_same_pair_is_accepted_just_below_its_score_and_rejected_just_above(
        probe_client, verify_key, enrolled, speech):
    (speaker_a, user_a), (speaker_b, _) = list(enrolled.items())[:2]
    impostor = speech[speaker_b][1]
    score = await score_of(probe_client, verify_key, impostor, user_a)
    assert 0.02 < score < 0.98, score  # room on both sides for the probe
    below = await verify(probe_client, verify_key, impostor, user_id=user_a, threshold=round(score - 0.01, 6))
    above = await verify(probe_client, verify_key, impostor, user_id=user_a, threshold=round(score + 0.01, 6))
    assert below["verified"] is True and below["name"] == f"spk-{speaker_a}"
    assert above["verified"] is False and above["mode"] == "1:1"
    assert above["name"] is None  # a rejected 1:1 does not say whose voiceprint it was
    assert above["user_id"] == user_a and above["confidence"] == pytest.approx(score, abs=1e-6)


async def test_impostors_rejected_genuine_accepted_at_a_measured_threshold(probe_client, verify_key, enrolled,
                                                                          speech):
    genuine, impostor = [], []
    for speaker, user_id in enrolled.items():
        for other, clips in speech.items():
            if other in enrolled:
                (genuine if other == speaker else impostor).append(
                    (clips[1], user_id, await score_of(probe_client, verify_key, clips[1], user_id)))
    mean_genuine = sum(s for *_, s in genuine) / len(genuine)
    mean_impostor = sum(s for *_, s in impostor) / len(impostor)
    assert mean_genuine > mean_impostor, (genuine, impostor)  # even random weights separate speakers on average
    threshold = round((mean_genuine + mean_impostor) / 2, 6)
    outcomes = []
    for clip, user_id, score in genuine + impostor:
        body = await verify(probe_client, verify_key, clip, user_id=user_id, threshold=threshold)
        assert body["verified"] is (score >= threshold), (score, threshold, body)
        outcomes.append(body["verified"])
    assert True in outcomes and False in outcomes  # both decisions were exercised


async def test_a_rejected_one_to_n_names_nobody(probe_client, verify_key, enrolled, speech):
    speaker, user_id = next(iter(enrolled.items()))
    clip = speech[speaker][1]
    best = await verify(probe_client, verify_key, clip, threshold=0.0)
    assert best["verified"] is True and best["mode"] == "1:N" and best["user_id"] in enrolled.values()
    rejected = await verify(probe_client, verify_key, clip, threshold=min(1.0, round(best["confidence"] + 0.01, 6)))
    assert rejected == {"verified": False, "mode": "1:N", "user_id": None, "name": None, "confidence": None,
                        "threshold": rejected["threshold"], "model": rejected["model"], "warning": rejected["warning"]}


async def test_identify_lists_only_candidates_above_the_threshold(make_client, router_settings, probe_client,
                                                                  admin_key, identify_key, enrolled, speech):
    clip = speech[next(iter(enrolled))][1]
    scores = {s: await score_of(probe_client, identify_key, clip, u) for s, u in enrolled.items()}
    ranked = sorted(scores, key=lambda s: -scores[s])
    threshold = round((scores[ranked[0]] + scores[ranked[1]]) / 2, 6)  # between the best and the runner-up
    client = await make_client(router_settings(verify={"threshold": threshold, "score_decimals": 6}))
    ids = {}
    for speaker in enrolled:  # the same voiceprints in this router's own store
        response = await client.post("/api/v1/voiceprint/register", headers=auth(admin_key),
                                     data=form(encode(speech[speaker][0], "wav16"), name=speaker))
        ids[speaker] = (await response.json())["user_id"]
    response = await client.post("/api/v1/voiceprint/identify", headers=auth(identify_key),
                                 data=form(encode(clip, "wav16"), top_k=3))
    body = await response.json()
    assert response.status == 200 and body["threshold"] == threshold, body
    assert [c["user_id"] for c in body["candidates"]] == [ids[ranked[0]]]  # the runner-up is not named
    assert body["candidates"][0]["score"] == pytest.approx(scores[ranked[0]], abs=1e-5)


async def test_a_threshold_below_the_floor_is_refused(client, verify_key, wav):
    response = await client.post(PROBE, headers=auth(verify_key), data=form(wav, threshold=0.1))
    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == "invalid_field" and "0.39" in body["error"]["message"]
    response = await client.post(PROBE, headers=auth(verify_key), data=form(wav, threshold=0.5))
    assert response.status == 200  # stricter than the floor is fine


async def test_rejections_are_audited_and_counted(probe_client, verify_key, enrolled, speech):
    captured: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record):
            captured.append(getattr(record, "fields", {}))

    handler = Capture()
    audit = logging.getLogger(AUDIT_LOGGER)
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)

    async def rejected_count() -> float:
        text = await (await probe_client.get("/metrics")).text()
        line = next((x for x in text.splitlines()
                     if x.startswith('vomid_verify_decisions_total{mode="1:1",result="rejected"}')), None)
        return 0.0 if line is None else float(line.split()[-1])

    try:
        (speaker_a, user_a), (speaker_b, _) = list(enrolled.items())[:2]
        before = await rejected_count()
        body = await verify(probe_client, verify_key, speech[speaker_b][1], user_id=user_a, threshold=0.999)
        assert body["verified"] is False
        assert await rejected_count() == before + 1
    finally:
        audit.removeHandler(handler)
    record = next(r for r in captured if r.get("action") == "verify")
    assert record["result"] == "rejected" and record["mode"] == "1:1" and record["threshold"] == 0.999
    assert record["user_id"] == user_a and "audio" not in json.dumps(record)


async def test_a_deleted_user_is_never_matched_again(probe_client, admin_key, verify_key, identify_key, speech):
    speaker, clips = next(iter(speech.items()))
    response = await probe_client.post("/api/v1/voiceprint/register", headers=auth(admin_key),
                                       data=form(encode(clips[0], "wav16"), name="to-erase"))
    user_id = (await response.json())["user_id"]
    assert (await verify(probe_client, verify_key, clips[0], user_id=user_id))["verified"] is True
    assert (await probe_client.delete(f"/api/v1/voiceprint/{user_id}", headers=auth(admin_key))).status == 200
    response = await probe_client.post(PROBE, headers=auth(verify_key),
                                       data=form(encode(clips[0], "wav16"), user_id=user_id))
    assert response.status == 404
    one_to_n = await verify(probe_client, verify_key, clips[0], threshold=0.0)
    assert one_to_n["user_id"] != user_id
    response = await probe_client.post("/api/v1/voiceprint/identify", headers=auth(identify_key),
                                       data=form(encode(clips[0], "wav16"), top_k=100))
    assert user_id not in [c["user_id"] for c in (await response.json())["candidates"]]
