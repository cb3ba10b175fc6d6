"""A write whose reply is lost is retried by the SDK with the same Idempotency-Key: one user, never two.

Real router (memory and Redis stores, so the key is remembered in process and in Redis), real Triton, a proxy
that drops the first reply after the router has acted.
"""
from __future__ import annotations

import uuid
from urllib.parse import urlparse

import pytest

from client import AsyncVoMIDClient, VoMIDClient
from client.retry import RetryPolicy
from store.crypto import generate_key
from tests.client.lossy_proxy import LossyProxy

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_s=0.05)


@pytest.fixture(params=["memory", "redis"])
def router(request, start_router) -> str:
    if request.param == "memory":
        return start_router()
    redis_url = request.getfixturevalue("redis_url")
    return start_router(storage={"type": "redis", "encryption_key": generate_key(),
                                 "redis_prefix": f"idem{uuid.uuid4().hex[:6]}"}, redis={"url": redis_url})


def proxied(url: str) -> LossyProxy:
    parsed = urlparse(url)
    return LossyProxy((parsed.hostname, parsed.port))


def users_named(url: str, key: str, name: str) -> list:
    with VoMIDClient(url, api_key=key) as client:
        return [u for u in client.list_voiceprints(limit=1000).items if u.name == name]


def test_register_and_enroll_with_a_lost_reply_happen_once(router, api_keys, clips):
    (first, second), = list(clips.values())[:1]
    name = f"lost-reply-{uuid.uuid4().hex[:8]}"
    proxy = proxied(router)
    try:
        with VoMIDClient(proxy.url, api_key=api_keys["admin"], retry=FAST_RETRY) as client:
            user_id = client.register_voiceprint(name, first)
            assert proxy.dropped == 1  # the first reply really was lost, after the router created the user
            proxy.drops_left = 1
            enrolled = client.enroll_voiceprint(user_id, second)
            assert proxy.dropped == 2
        assert enrolled["enrollments"] == 2  # the replayed reply of the one enrollment that happened
        found = users_named(router, api_keys["admin"], name)
        assert [u.user_id for u in found] == [user_id] and found[0].enrollments == 2
    finally:
        proxy.close()
        with VoMIDClient(router, api_key=api_keys["admin"]) as client:
            for user in users_named(router, api_keys["admin"], name):
                client.delete_voiceprint(user.user_id)


async def test_async_client_behaves_the_same(router, api_keys, clips):
    first = next(iter(clips.values()))[0]
    name = f"lost-reply-async-{uuid.uuid4().hex[:8]}"
    proxy = proxied(router)
    try:
        async with AsyncVoMIDClient(proxy.url, api_key=api_keys["admin"], retry=FAST_RETRY) as client:
            user_id = await client.register_voiceprint(name, first)
        assert proxy.dropped == 1
        assert [u.user_id for u in users_named(router, api_keys["admin"], name)] == [user_id]
    finally:
        proxy.close()
        with VoMIDClient(router, api_key=api_keys["admin"]) as client:
            for user in users_named(router, api_keys["admin"], name):
                client.delete_voiceprint(user.user_id)


def test_the_same_key_on_another_request_is_refused(router, api_keys, clips):
    import requests

    (first, second), = list(clips.values())[:1]
    key = uuid.uuid4().hex
    headers = {"X-API-Key": api_keys["admin"], "Idempotency-Key": key}
    url = f"{router}/api/v1/voiceprint/register"
    with open(first, "rb") as audio:
        created = requests.post(url, headers=headers, data={"name": "k1"}, files={"audio": audio}, timeout=30)
    with open(first, "rb") as audio:
        again = requests.post(url, headers=headers, data={"name": "k1"}, files={"audio": audio}, timeout=30)
    with open(second, "rb") as audio:
        other = requests.post(url, headers=headers, data={"name": "k1"}, files={"audio": audio}, timeout=30)
    try:
        assert created.status_code == 201 and again.status_code == 201
        assert again.json()["user_id"] == created.json()["user_id"] and again.headers["Idempotent-Replayed"] == "true"
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    finally:
        with VoMIDClient(router, api_key=api_keys["admin"]) as client:
            client.delete_voiceprint(created.json()["user_id"])


def test_the_sdk_reads_the_api_key_from_the_environment(router_url, api_keys, monkeypatch):
    monkeypatch.setenv("VOIMID_API_KEY", api_keys["admin"])
    with VoMIDClient(router_url) as client:  # the README's example, with the key in the environment
        assert client.list_voiceprints().total >= 0
    monkeypatch.delenv("VOIMID_API_KEY")
    from client.errors import AuthenticationError
    with VoMIDClient(router_url) as client, pytest.raises(AuthenticationError):
        client.list_voiceprints()
