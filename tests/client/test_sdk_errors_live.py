"""Error answers of the real router reach SDK callers as typed exceptions; 429/503 are retried within bounds."""
from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from client import (AsyncVoMIDClient, AudioRejected, AuthenticationError, NotFound, PermissionDenied, RateLimited,
                    RetryPolicy, ServiceUnavailable, TransportError, ValidationError, VoMIDClient)
from vomid.tritonserver import free_port

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
def admin(router_url, api_keys):
    with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        yield client


@pytest.fixture
def a_clip(clips):
    return next(iter(clips.values()))[0]


def test_unknown_user_is_not_found(admin):
    with pytest.raises(NotFound) as caught:
        admin.get_voiceprint("no-such-user")
    assert (caught.value.status, caught.value.code) == (404, "user_not_found")


def test_missing_or_unknown_key_is_an_authentication_error(router_url, a_clip):
    with VoMIDClient(router_url) as anonymous, pytest.raises(AuthenticationError) as caught:
        anonymous.verify_voiceprint(a_clip)
    assert (caught.value.status, caught.value.code) == (401, "missing_api_key")
    with VoMIDClient(router_url, api_key="vmd_wrong") as stranger, pytest.raises(AuthenticationError) as caught:
        stranger.list_voiceprints()
    assert caught.value.code == "invalid_api_key"


def test_verify_key_cannot_register(router_url, api_keys, a_clip):
    with VoMIDClient(router_url, api_key=api_keys["verify"]) as verifier, pytest.raises(PermissionDenied) as caught:
        verifier.register_voiceprint("mallory", a_clip)
    assert (caught.value.status, caught.value.code) == (403, "insufficient_scope")


@pytest.mark.parametrize("audio,code", [
    (b"this is not audio at all" * 50, {"unsupported_format", "corrupt_audio"}),
    ((np.zeros(32000, dtype=np.float32), 16000), {"silent_audio"}),
    ((np.full(800, 0.3, dtype=np.float32), 16000), {"audio_too_short"}),
])
def test_unusable_audio_is_rejected_with_the_servers_code(admin, audio, code):
    with pytest.raises(AudioRejected) as caught:
        admin.verify_voiceprint(audio)
    assert caught.value.status == 422 and caught.value.code in code


def test_oversized_audio_is_rejected(start_router, api_keys, a_clip):
    url = start_router(api={"max_upload_mb": 0.05})  # ~52 KB; the clip is several seconds of PCM
    with VoMIDClient(url, api_key=api_keys["admin"]) as client, pytest.raises(AudioRejected) as caught:
        client.verify_voiceprint(a_clip)
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")


def test_bad_field_is_a_validation_error_not_an_audio_one(admin, a_clip):
    with pytest.raises(ValidationError) as caught:
        admin.verify_voiceprint(a_clip, threshold=1.5)
    assert type(caught.value) is ValidationError and (caught.value.status, caught.value.code) == (400, "invalid_field")


def _drain(client: VoMIDClient) -> RateLimited:
    for _ in range(5):
        try:
            client.list_voiceprints()
        except RateLimited as exc:
            return exc
    pytest.fail("the rate limit never answered 429")


def test_rate_limit_is_retried_after_retry_after_within_bounds(start_router, api_keys):
    url = start_router(rate_limit={"rate_per_s": 1, "burst": 1})
    key = api_keys["admin"]
    with VoMIDClient(url, api_key=key, retry=NO_RETRY) as once:
        limited = _drain(once)
    assert (limited.status, limited.code, limited.retry_after) == (429, "rate_limited", 1.0)

    with VoMIDClient(url, api_key=key) as patient:  # default policy: waits the advised second, then succeeds
        started = time.monotonic()
        patient.list_voiceprints()
        assert time.monotonic() - started >= 0.9

    impatient = RetryPolicy(max_retry_after_s=0.5)  # the server asks for 1 s: beyond the bound, give up now
    with VoMIDClient(url, api_key=key, retry=impatient) as client:
        started = time.monotonic()
        with pytest.raises(RateLimited):
            client.list_voiceprints()
        assert time.monotonic() - started < 0.9  # gave up instead of waiting the advised 1 s


async def test_async_client_retries_rate_limits_too(start_router, api_keys):
    url = start_router(rate_limit={"rate_per_s": 1, "burst": 1})
    async with AsyncVoMIDClient(url, api_key=api_keys["admin"], retry=NO_RETRY) as once:
        with pytest.raises(RateLimited) as caught:
            for _ in range(5):
                await once.list_voiceprints()
    assert caught.value.retry_after == 1.0
    async with AsyncVoMIDClient(url, api_key=api_keys["admin"]) as patient:
        started = time.monotonic()
        await patient.list_voiceprints()
        assert time.monotonic() - started >= 0.9


def test_no_inference_backend_is_service_unavailable(start_router, api_keys, a_clip):
    url = start_router(triton={"instances": [f"127.0.0.1:{free_port()}"]})  # nothing listens there
    with VoMIDClient(url, api_key=api_keys["admin"], retry=RetryPolicy(max_attempts=2, backoff_s=0.01)) as client:
        health = client.health()
        assert health.status == "down" and not health.ok and not health.backends["triton"]["ok"]
        with pytest.raises(ServiceUnavailable) as caught:
            client.verify_voiceprint(a_clip)
    assert caught.value.status == 503 and caught.value.code == "inference_unavailable"


def test_no_answer_is_a_transport_error_after_the_timeout():
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with VoMIDClient(url, timeout=0.5, retry=RetryPolicy(max_attempts=2, backoff_s=0.01)) as client:
            started = time.monotonic()
            with pytest.raises(TransportError):
                client.health()
            assert time.monotonic() - started < 5
    with VoMIDClient(f"http://127.0.0.1:{free_port()}", retry=NO_RETRY) as client, pytest.raises(TransportError):
        client.stats()
