"""AsyncVoMIDClient has the same surface as VoMIDClient: every call against the real router, concurrently too."""
from __future__ import annotations

import asyncio

import pytest

from client import AsyncVoMIDClient, NotFound
from tests.client.conftest import read_clip

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_every_call(router_url, api_keys, clips):
    (_, (a1, a2)), (_, (b1, b2)) = clips.items()
    async with AsyncVoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        alice, bob = await asyncio.gather(client.register_voiceprint("alice", a1, {"team": "a"}),
                                          client.register_voiceprint("bob", b1.read_bytes()))
        try:
            samples, rate = read_clip(a2)
            assert (await client.enroll_voiceprint(alice, samples, sample_rate=rate))["enrollments"] == 2
            result = await client.verify_voiceprint(b1, threshold=0.6, user_id=bob)
            assert result.verified and result.user_id == bob and result.confidence > 0.99
            identified = await client.identify_voiceprint(b1, top_k=1)
            assert [c.user_id for c in identified.candidates] == [bob]
            voiceprint = await client.get_voiceprint(alice)
            assert voiceprint.metadata == {"team": "a"} and voiceprint.enrollments == 2
            page = await client.list_voiceprints(limit=1000)
            assert {alice, bob} <= {v.user_id for v in page.items}
            assert (await client.stats())["users"] >= 2
            assert (await client.health()).ok
        finally:
            await asyncio.gather(client.delete_voiceprint(alice), client.delete_voiceprint(bob))
        with pytest.raises(NotFound) as caught:
            await client.get_voiceprint(alice)
        assert caught.value.code == "user_not_found"
