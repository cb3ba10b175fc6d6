"""Every voiceprint endpoint through the real router (factory app, real Triton, memory store)."""
from __future__ import annotations

import pytest

from router.system import SWAGGER_UI_DIR
from store.crypto import generate_key
from tests.audio.files import encode
from tests.router.conftest import auth, form

pytestmark = pytest.mark.asyncio(loop_scope="session")

WARNING = "random-weight model: results are meaningless"


async def register(client, key, clip, name="alice", **fields):
    response = await client.post("/api/v1/voiceprint/register", data=form(encode(clip, "wav16"), name=name, **fields),
                                 headers=auth(key))
    body = await response.json()
    assert response.status == 201, body
    return body


async def test_register_get_enroll_verify_identify_list_delete(client, admin_key, verify_key, identify_key, speech):
    (spk_a, clips_a), (spk_b, clips_b) = list(speech.items())[:2]
    alice = await register(client, admin_key, clips_a[0], name="alice", metadata='{"team": "a"}')
    bob = await register(client, admin_key, clips_b[0], name="bob")
    try:
        assert alice["name"] == "alice" and alice["metadata"] == {"team": "a"} and alice["enrollments"] == 1
        assert alice["warning"] == WARNING

        response = await client.get(f"/api/v1/voiceprint/{alice['user_id']}", headers=auth(verify_key))
        assert response.status == 200 and (await response.json())["name"] == "alice"
        assert response.headers["X-VoMID-Warning"] == WARNING

        response = await client.post(f"/api/v1/voiceprint/{alice['user_id']}/enroll",
                                     data=form(encode(clips_a[1], "flac")), headers=auth(admin_key))
        assert response.status == 200 and (await response.json())["enrollments"] == 2

        # 1:1 with the same clip that was enrolled: cosine close to 1 even with random weights.
        response = await client.post("/api/v1/voiceprint/verify", headers=auth(verify_key),
                                     data=form(encode(clips_b[0], "wav16"), user_id=bob["user_id"], threshold=0.9))
        body = await response.json()
        assert response.status == 200, body
        assert body["verified"] is True and body["user_id"] == bob["user_id"] and body["confidence"] > 0.99
        assert body["threshold"] == 0.9 and body["mode"] == "1:1"

        response = await client.post("/api/v1/voiceprint/verify", headers=auth(verify_key),
                                     data=form(encode(clips_b[0], "wav16"), threshold=0.99))
        body = await response.json()
        assert body["verified"] is True and body["user_id"] == bob["user_id"] and body["mode"] == "1:N"

        response = await client.post("/api/v1/voiceprint/identify", headers=auth(verify_key),
                                     data=form(encode(clips_b[0], "wav16"), top_k=2))
        assert response.status == 403  # identify (who, among everyone?) needs its own scope
        response = await client.post("/api/v1/voiceprint/identify", headers=auth(identify_key),
                                     data=form(encode(clips_b[0], "wav16"), top_k=2))
        body = await response.json()
        assert response.status == 200, body
        assert body["candidates"][0]["user_id"] == bob["user_id"] and 1 <= len(body["candidates"]) <= 2
        assert all(c["score"] >= body["threshold"] for c in body["candidates"])

        response = await client.get("/api/v1/voiceprints?offset=0&limit=10", headers=auth(admin_key))
        body = await response.json()
        ids = [u["user_id"] for u in body["items"]]
        assert alice["user_id"] in ids and bob["user_id"] in ids
    finally:
        for user in (alice, bob):
            response = await client.delete(f"/api/v1/voiceprint/{user['user_id']}", headers=auth(admin_key))
            assert response.status == 200
    response = await client.get(f"/api/v1/voiceprint/{alice['user_id']}", headers=auth(verify_key))
    body = await response.json()
    assert response.status == 404 and body["error"]["code"] == "user_not_found"


async def test_verify_unknown_user_is_404(client, verify_key, wav):
    response = await client.post("/api/v1/voiceprint/verify", data=form(wav, user_id="nobody"),
                                 headers=auth(verify_key))
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "user_not_found"


async def test_health_is_status_only_unless_admin(client, admin_key, verify_key):
    for headers in ({}, auth(verify_key), auth("vmd_not-a-key")):
        response = await client.get("/health", headers=headers)
        body = await response.json()
        assert response.status == 200, body
        assert body["status"] == "ok" and body["ready"] is True and body["random_weights"] is True
        assert "backends" not in body and "model" not in body  # no addresses, paths or counts in public
    body = await (await client.get("/health", headers=auth(admin_key))).json()
    assert body["warning"] == WARNING
    assert body["backends"]["store"]["ok"] and body["backends"]["triton"]["instances"][0]["healthy"]


async def test_stats_metrics_docs_openapi(client, admin_key):
    response = await client.get("/api/v1/stats", headers=auth(admin_key))
    body = await response.json()
    assert response.status == 200 and "users" in body and body["instances"]
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200 and "vomid_http_requests_total" in text
    response = await client.get("/api/v1/openapi.json")
    spec = await response.json()
    assert spec["openapi"].startswith("3.") and "/api/v1/voiceprint/verify" in spec["paths"]
    response = await client.get("/api/v1/docs")
    html = await response.text()
    assert response.status == 200 and "http" not in html.split("<body>")[1]  # nothing from a CDN
    if SWAGGER_UI_DIR is None:  # swagger-ui-bundle not installed: a plain page linking the spec
        assert "/api/v1/openapi.json" in html
    else:
        assert "swagger-ui-bundle.js" in html
        assert (await client.get("/api/v1/docs/static/swagger-ui-bundle.js")).status == 200


async def test_stats_counts_requests(client, admin_key):
    await client.get("/health")
    body = await (await client.get("/api/v1/stats", headers=auth(admin_key))).json()
    assert body["requests"]["by_route"]["/health"] >= 1 and body["requests"]["latency"]["/health"]["p50_ms"] >= 0
    assert {"url", "healthy", "in_flight", "requests", "failures", "latency_ms"} <= set(body["instances"][0])


async def test_method_not_allowed_is_json_with_allow(client):
    response = await client.put("/api/v1/voiceprint/register")
    assert response.status == 405 and "POST" in response.headers["Allow"]
    assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_file_store_keeps_users_across_restarts(make_client, router_settings, admin_key, wav, tmp_path):
    storage = {"type": "file", "path": str(tmp_path / "store"), "encryption_key": generate_key()}
    first = await make_client(router_settings(storage=storage))
    response = await first.post("/api/v1/voiceprint/register", data=form(wav, name="kept"), headers=auth(admin_key))
    user = (await response.json())["user_id"]
    await first.close()
    second = await make_client(router_settings(storage=storage))
    response = await second.get(f"/api/v1/voiceprint/{user}", headers=auth(admin_key))
    assert response.status == 200 and (await response.json())["name"] == "kept"
    response = await second.post("/api/v1/voiceprint/verify", data=form(wav, user_id=user), headers=auth(admin_key))
    assert (await response.json())["confidence"] > 0.99


async def test_redis_storage_and_automatic_shared_limit(make_client, router_settings, admin_key, wav, redis_url):
    settings = router_settings(storage={"type": "redis", "encryption_key": generate_key(), "redis_prefix": "rt"},
                               redis={"url": redis_url}, rate_limit={"backend": "auto"})
    client = await make_client(settings)
    health = await (await client.get("/health", headers=auth(admin_key))).json()
    assert health["backends"]["store"]["ok"] and health["backends"]["redis"]["ok"]
    response = await client.post("/api/v1/voiceprint/register", data=form(wav, name="r"), headers=auth(admin_key))
    user = (await response.json())["user_id"]
    response = await client.post("/api/v1/voiceprint/identify", data=form(wav, top_k=1), headers=auth(admin_key))
    assert (await response.json())["candidates"][0]["user_id"] == user
    assert (await client.delete(f"/api/v1/voiceprint/{user}", headers=auth(admin_key))).status == 200


async def test_openapi_describes_every_route(client):
    spec = await (await client.get("/api/v1/openapi.json")).json()
    served = set()
    for route in client.app.router.routes():
        path = route.resource.canonical
        if route.method != "HEAD" and "/static" not in path:
            served.add((path, route.method.lower()))
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert served == described
