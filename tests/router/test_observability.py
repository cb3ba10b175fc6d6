"""Request ids, JSON logs, the audit trail, bounded metric labels, clean 413s and 503s when a backend is down."""
from __future__ import annotations

import asyncio
import json
import logging

import pytest

from router.logs import AUDIT_LOGGER, JsonFormatter
from tests.router.conftest import auth, form

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Capture(logging.Handler):
    """Formats records as they are emitted (inside the request's context, so the request id is there)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured():
    handler = Capture()
    loggers = [logging.getLogger(AUDIT_LOGGER), logging.getLogger("vomid.access")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield handler.lines
    for logger in loggers:
        logger.removeHandler(handler)


async def test_request_id_is_echoed_or_made_and_logged(client, captured):
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await client.get("/health", headers={"X-Request-ID": "bad id with spaces\t"})
    made = response.headers["X-Request-ID"]
    assert made != "bad id with spaces\t" and len(made) == 32
    access = [line for line in captured if line["logger"] == "vomid.access"]
    assert [line["request_id"] for line in access] == ["abc-123", made]
    assert access[0]["route"] == "/health" and access[0]["status"] == 200


async def test_audit_trail_has_who_what_result_and_never_audio(client, admin_key, verify_key, identify_key, wav,
                                                               captured):
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="audited"),
                                 headers=auth(admin_key))
    user = (await response.json())["user_id"]
    await client.post("/api/v1/voiceprint/verify", data=form(wav, user_id=user), headers=auth(verify_key))
    await client.post("/api/v1/voiceprint/identify", data=form(wav), headers=auth(identify_key))
    await client.delete(f"/api/v1/voiceprint/{user}", headers=auth(admin_key))
    audit = [line for line in captured if line["logger"] == AUDIT_LOGGER]
    assert [a["action"] for a in audit] == ["register", "verify", "identify", "delete"]
    assert audit[0]["key_id"] == "test-admin" and audit[1]["key_id"] == "test-verify"
    assert audit[1]["user_id"] == user and audit[1]["result"] == "accepted" and audit[1]["score"] > 0.99
    assert audit[1]["mode"] == "1:1" and audit[1]["threshold"] == 0.39  # every decision records its rule
    assert audit[2]["key_id"] == "test-identify" and audit[2]["threshold"] == 0.39
    assert all(a.get("request_id") for a in audit)
    text = json.dumps(audit)
    assert "audio" not in text and "embedding" not in text


async def test_metrics_labels_are_route_templates(client, verify_key):
    for user in ("u1", "u2", "u3"):
        await client.get(f"/api/v1/voiceprint/{user}", headers=auth(verify_key))
    text = await (await client.get("/metrics")).text()
    assert 'route="/api/v1/voiceprint/{user_id}"' in text and 'route="/api/v1/voiceprint/u1"' not in text
    for name in ("vomid_http_request_duration_seconds", "vomid_errors_total", "vomid_audio_decode_duration_seconds"):
        assert name in text


async def test_oversized_uploads_are_413_before_and_while_reading(client, admin_key):
    big = bytes(11 * 1024 * 1024)
    response = await client.post("/api/v1/voiceprint/verify", data=form(big), headers=auth(admin_key))
    assert response.status == 413 and (await response.json())["error"]["code"] == "payload_too_large"

    async def chunks():
        boundary = "b0undary"
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'.encode()
        for _ in range(11 * 4):
            yield bytes(256 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post("/api/v1/voiceprint/verify", data=chunks(),
                                 headers={**auth(admin_key), "Content-Type": "multipart/form-data; boundary=b0undary"})
    assert response.status == 413 and (await response.json())["error"]["code"] == "payload_too_large"


async def test_errors_carry_the_random_weights_warning(client):
    response = await client.get("/api/v1/voiceprints")
    body = await response.json()
    assert response.status == 401 and body["warning"].startswith("random-weight model")
    assert response.headers["X-VoMID-Warning"] == body["warning"]


async def test_triton_down_is_503_and_health_says_not_ready(make_client, router_settings, admin_key, wav):
    settings = router_settings(triton={"instances": ["127.0.0.1:9"], "health_interval_s": 0.5, "timeout_s": 1.0})
    client = await make_client(settings)
    response = await client.get("/health", headers=auth(admin_key))
    body = await response.json()
    assert response.status == 503 and body["ready"] is False and body["backends"]["triton"]["ok"] is False
    assert body["status"] == "down" and body["backends"]["store"]["ok"] is True
    assert (await client.get("/health/ready")).status == 503 and (await client.get("/health/live")).status == 200
    response = await client.post("/api/v1/voiceprint/verify", data=form(wav), headers=auth(admin_key))
    body = await response.json()
    assert response.status == 503 and body["error"]["code"] in ("inference_unavailable", "inference_failed")
    assert int(response.headers["Retry-After"]) >= 1
    assert "127.0.0.1" not in json.dumps(body)  # error bodies name no internal address
    # Routes that need no inference keep answering.
    assert (await client.get("/api/v1/voiceprints", headers=auth(admin_key))).status == 200


async def test_store_users_gauge_follows_the_store(client, admin_key, wav):
    async def users_gauge() -> float:
        text = await (await client.get("/metrics")).text()
        return float(next(line.split()[-1] for line in text.splitlines() if line.startswith("vomid_store_users ")))

    before = await users_gauge()
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="gauge"), headers=auth(admin_key))
    assert response.status == 201, await response.text()
    user_id = (await response.json())["user_id"]
    assert await users_gauge() == before + 1
    assert (await client.delete(f"/api/v1/voiceprint/{user_id}", headers=auth(admin_key))).status in (200, 204)
    assert await users_gauge() == before


async def test_a_declared_oversize_is_refused_before_any_body_is_sent(client, admin_key):
    """Only the headers go out: the 413 must come from Content-Length alone, not after reading 20 MB."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(f"POST /api/v1/voiceprint/verify HTTP/1.1\r\nHost: x\r\nX-API-Key: {admin_key}\r\n"
                     f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {20 * 1024 * 1024}\r\n\r\n"
                     .encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
