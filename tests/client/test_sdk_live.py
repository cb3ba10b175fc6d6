"""The documented SDK usage, every call, against the real router (factory app + real Triton + memory store)."""
from __future__ import annotations

import io

import pytest

from client import NotFound, VoMIDClient
from tests.client.conftest import read_clip


@pytest.fixture
def admin(router_url, api_keys):
    with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        yield client


def test_documented_usage(router_url, api_keys, clips):
    a1 = next(iter(clips.values()))[0]
    client = VoMIDClient(router_url, api_key=api_keys["admin"])
    user_id = client.register_voiceprint(name="Alice", audio_file=str(a1), metadata={"team": "ops"})
    try:
        # The exact clip that was enrolled: cosine ~1 even for the random-weight test model.
        result = client.verify_voiceprint(audio_file=str(a1), threshold=0.6)
        assert result.verified is True
        assert result.user_id == user_id
        assert result.confidence > 0.99
        assert result.threshold == 0.6 and result.mode == "1:N"
    finally:
        client.delete_voiceprint(user_id)
        client.close()


def test_every_call_with_every_audio_input(admin, api_keys, router_url, clips):
    (_, (a1, a2)), (_, (b1, _)) = clips.items()
    samples, rate = read_clip(a1)
    alice = admin.register_voiceprint("alice", samples, {"k": 1}, sample_rate=rate)  # numpy + rate
    bob = admin.register_voiceprint("bob", b1.read_bytes())  # bytes
    try:
        with a2.open("rb") as handle:  # a file object
            enrolled = admin.enroll_voiceprint(alice, handle)
        assert enrolled["enrollments"] == 2

        voiceprint = admin.get_voiceprint(alice)
        assert (voiceprint.user_id, voiceprint.name, voiceprint.metadata) == (alice, "alice", {"k": 1})
        assert voiceprint.enrollments == 2

        one_to_one = admin.verify_voiceprint((samples, rate), threshold=0.9, user_id=alice)  # (array, rate)
        assert one_to_one.verified and one_to_one.mode == "1:1" and one_to_one.user_id == alice

        identified = admin.identify_voiceprint(io.BytesIO(b1.read_bytes()), top_k=2)
        assert identified.best.user_id == bob and identified.best.name == "bob"
        assert [c.user_id for c in identified.candidates] == [bob, alice]
        assert identified.candidates[0].score >= identified.candidates[1].score

        page = admin.list_voiceprints(offset=0, limit=100)
        assert {alice, bob} <= {v.user_id for v in page.items} and page.total >= 2 and page.limit == 100

        assert admin.stats()["users"] >= 2
        health = admin.health()
        assert health.ok and health.status == "ok" and health.random_weights

        with VoMIDClient(router_url, api_key=api_keys["verify"]) as verifier:  # verify scope suffices
            assert verifier.verify_voiceprint(b1, user_id=bob).verified
    finally:
        assert admin.delete_voiceprint(alice)["deleted"] is True
        admin.delete_voiceprint(bob)
    with pytest.raises(NotFound):
        admin.get_voiceprint(alice)
