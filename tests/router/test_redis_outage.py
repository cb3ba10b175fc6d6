"""Redis stopped for real under a router on the redis store: decisions keep answering from the local index,
writes and reads of the durable copy get 503 with Retry-After, and everything works again once Redis is back."""
from __future__ import annotations

import shutil

import pytest

from store.crypto import generate_key
from tests.audio.files import encode
from tests.router.conftest import auth, form
from tests.store.conftest import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    yield server
    server.stop()


async def test_decisions_survive_a_redis_outage_and_writes_say_503(make_client, router_settings, admin_key,
                                                                   verify_key, identify_key, speech, own_redis):
    settings = router_settings(storage={"type": "redis", "encryption_key": generate_key(), "redis_prefix": "out",
                                        "redis_timeout_s": 0.5},
                               redis={"url": own_redis.url, "timeout_s": 0.5},
                               verify={"score_decimals": 6}, rate_limit={"backend": "memory"})
    client = await make_client(settings)
    clips = next(iter(speech.values()))
    response = await client.post("/api/v1/voiceprint/register", data=form(encode(clips[0], "wav16"), name="kept"),
                                 headers=auth(admin_key))
    user_id = (await response.json())["user_id"]
    before = await (await client.post("/api/v1/voiceprint/verify", headers=auth(verify_key),
                                      data=form(encode(clips[1], "wav16"), user_id=user_id))).json()

    own_redis.kill()
    one_to_one = await client.post("/api/v1/voiceprint/verify", headers=auth(verify_key),
                                   data=form(encode(clips[1], "wav16"), user_id=user_id))
    body = await one_to_one.json()
    assert one_to_one.status == 200, body
    assert body["confidence"] == pytest.approx(before["confidence"], abs=1e-5) and body["verified"] is True
    assert body["name"] == "kept"  # the local index knows the name
    identify = await client.post("/api/v1/voiceprint/identify", headers=auth(identify_key),
                                 data=form(encode(clips[1], "wav16"), top_k=1))
    assert identify.status == 200 and (await identify.json())["candidates"][0]["user_id"] == user_id
    for response in (await client.post("/api/v1/voiceprint/register", headers=auth(admin_key),
                                       data=form(encode(clips[0], "wav16"), name="later")),
                     await client.get(f"/api/v1/voiceprint/{user_id}", headers=auth(admin_key))):
        body = await response.json()
        assert response.status == 503 and body["error"]["code"] == "storage_unavailable", body
        assert response.headers["Retry-After"] == "1" and "127.0.0.1" not in str(body)
    health = await client.get("/health/ready")
    assert health.status == 503 and (await client.get("/health/live")).status == 200

    restarted = RedisServer(own_redis.workdir, "--appendonly", "yes", port=own_redis.port)
    try:
        response = await client.get(f"/api/v1/voiceprint/{user_id}", headers=auth(admin_key))
        assert response.status == 200 and (await response.json())["name"] == "kept"  # acknowledged, kept (AOF)
    finally:
        restarted.stop()
