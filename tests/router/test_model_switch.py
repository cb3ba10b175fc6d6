"""Voiceprints made by another model than the served one: 1:1 and enroll answer 409, 1:N and identify skip them;
new voiceprints are tagged with the served model's id."""
from __future__ import annotations

import numpy as np
import pytest

from store.config import StorageConfig
from store.crypto import generate_key
from store.factory import create_store
from tests.router.conftest import auth, form

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_another_models_voiceprint_is_refused_not_scored(make_client, router_settings, admin_key, verify_key,
                                                               identify_key, wav, tmp_path):
    storage = {"type": "file", "path": str(tmp_path / "store"), "encryption_key": generate_key()}
    async with create_store(StorageConfig.from_dict(storage)) as store:  # enrolled under a model since replaced
        vector = np.random.default_rng(3).standard_normal(512).astype(np.float32)
        stale = await store.create_user("stale", [vector], model_id="campplus:an-older-checkpoint")
    client = await make_client(router_settings(storage=storage, verify={"min_threshold": 0.0}))
    response = await client.post("/api/v1/voiceprint/verify", data=form(wav, user_id=stale.user_id),
                                 headers=auth(verify_key))
    body = await response.json()
    assert response.status == 409 and body["error"]["code"] == "model_mismatch", body
    response = await client.post(f"/api/v1/voiceprint/{stale.user_id}/enroll", data=form(wav),
                                 headers=auth(admin_key))
    assert response.status == 409
    one_to_n = await (await client.post("/api/v1/voiceprint/verify", data=form(wav, threshold=0.0),
                                        headers=auth(verify_key))).json()
    assert one_to_n["user_id"] is None  # the only enrolled voiceprint is not comparable
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="fresh"),
                                 headers=auth(admin_key))
    fresh = await response.json()
    served = fresh["model_id"]
    assert served and served.startswith("campplus:") and served != "campplus:an-older-checkpoint"
    identify = await (await client.post("/api/v1/voiceprint/identify", data=form(wav, top_k=5),
                                        headers=auth(identify_key))).json()
    assert [c["user_id"] for c in identify["candidates"]] == [fresh["user_id"]]
